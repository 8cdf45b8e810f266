//! Decides which audit events are written: compiles `--auditFilter`, a
//! MongoDB query document as mongod Enterprise takes it, and evaluates it
//! against each event.

use std::cmp::Ordering::{self, Equal, Greater, Less};

use bson::{Bson, Document};
use regex::Regex;

/// A compiled `--auditFilter`. Everything is checked by `parse`, at
/// start-up, so that matching an event can never fail.
pub struct Filter {
    query: Query,
}

/// The clauses of one query document, all of which must hold.
type Query = Vec<Clause>;

enum Clause {
    And(Vec<Query>),
    Or(Vec<Query>),
    Nor(Vec<Query>),
    /// A dotted path, and tests that must all hold on the values there.
    Field(Vec<String>, Vec<Test>),
}

/// One test on the values found at a path. `$ne`, `$nin` and `$not` are
/// `Not` around a positive test, which gives MongoDB's rule that they
/// match a missing field.
enum Test {
    Eq(Operand),
    In(Vec<Operand>),
    Exists(bool),
    /// The orders a value may have to the bound: `$gte` is [Greater, Equal].
    Compare(Bson, &'static [Ordering]),
    Not(Vec<Test>),
}

/// What a value must be equal to: a literal, or a regex (which, as a query
/// value, means "matches" in MongoDB).
enum Operand {
    Value(Bson),
    Pattern(Regex),
}

impl Filter {
    /// Parses `--auditFilter`'s text. mongod accepts relaxed JSON: unquoted
    /// keys, single-quoted strings (e.g. `{ atype: { $in: [ 'authenticate',
    /// 'authCheck' ] } }`), and extended JSON values ($date, $regex,
    /// $numberInt...).
    pub fn parse(text: &str) -> Result<Filter, String> {
        let json: serde_json::Value =
            json5::from_str(text).map_err(|why| format!("the filter is not valid JSON: {why}"))?;
        let value = Bson::try_from(json)
            .map_err(|why| format!("the filter is not valid extended JSON: {why}"))?;
        match value {
            Bson::Document(query) => compile_query(&query).map(|query| Filter { query }),
            other => Err(format!("expected a document, found {}", describe(&other))),
        }
    }

    /// Whether the event is to be written.
    pub fn matches(&self, event: &Document) -> bool {
        query_holds(&self.query, event)
    }
}

fn compile_query(query: &Document) -> Result<Query, String> {
    let mut clauses = Vec::new();
    for (key, value) in query {
        let clause = match key.as_str() {
            "$and" => Clause::And(compile_list(key, value)?),
            "$or" => Clause::Or(compile_list(key, value)?),
            "$nor" => Clause::Nor(compile_list(key, value)?),
            // mongod allows a comment beside the clauses; it filters nothing.
            "$comment" => continue,
            op if op.starts_with('$') => return Err(format!("unknown operator {op}")),
            field => Clause::Field(compile_path(field)?, compile_condition(value)?),
        };
        clauses.push(clause);
    }
    Ok(clauses)
}

fn compile_list(op: &str, value: &Bson) -> Result<Vec<Query>, String> {
    let wrong = || format!("{op} needs a non-empty array of documents");
    match value {
        Bson::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Bson::Document(query) => compile_query(query),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

fn compile_path(field: &str) -> Result<Vec<String>, String> {
    let path: Vec<String> = field.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(format!("invalid field path \"{field}\""));
    }
    Ok(path)
}

/// A field's value in the query: a document of operators, or a value that
/// the field must equal.
fn compile_condition(value: &Bson) -> Result<Vec<Test>, String> {
    match value {
        Bson::Document(ops) if is_operators(ops) => compile_operators(ops),
        other => Ok(vec![Test::Eq(compile_operand(other)?)]),
    }
}

/// MongoDB decides by the first key: `{ $in: ... }` is operators, while
/// `{ user: ... }` is a document to compare with.
fn is_operators(doc: &Document) -> bool {
    doc.keys().next().is_some_and(|key| key.starts_with('$'))
}

fn compile_operators(ops: &Document) -> Result<Vec<Test>, String> {
    let mut tests = Vec::new();
    for (key, value) in ops {
        let test = match key.as_str() {
            "$eq" => Test::Eq(Operand::Value(value.clone())),
            "$ne" => Test::Not(vec![Test::Eq(Operand::Value(value.clone()))]),
            "$in" => Test::In(compile_operands(key, value)?),
            "$nin" => Test::Not(vec![Test::In(compile_operands(key, value)?)]),
            "$exists" => match value {
                Bson::Boolean(wanted) => Test::Exists(*wanted),
                _ => return Err("$exists needs true or false".to_owned()),
            },
            "$regex" => Test::Eq(compile_regex_op(value, ops.get("$options"))?),
            // Read with its $regex just above.
            "$options" if ops.contains_key("$regex") => continue,
            "$options" => return Err("$options needs a $regex beside it".to_owned()),
            "$gt" => compile_comparison(key, value, &[Greater])?,
            "$gte" => compile_comparison(key, value, &[Greater, Equal])?,
            "$lt" => compile_comparison(key, value, &[Less])?,
            "$lte" => compile_comparison(key, value, &[Less, Equal])?,
            "$not" => Test::Not(match value {
                Bson::Document(inner) if is_operators(inner) => compile_operators(inner)?,
                Bson::RegularExpression(_) => vec![Test::Eq(compile_operand(value)?)],
                _ => return Err("$not needs a regex or a document of operators".to_owned()),
            }),
            other => return Err(format!("unknown operator {other}")),
        };
        tests.push(test);
    }
    Ok(tests)
}

fn compile_operand(value: &Bson) -> Result<Operand, String> {
    match value {
        Bson::RegularExpression(re) => compile_regex(&re.pattern, &re.options),
        other => Ok(Operand::Value(other.clone())),
    }
}

/// `$in` and `$nin` hold values and regexes, never operators: a nested
/// `{ $regex: ... }` would otherwise be silently compared as a document.
fn compile_operands(op: &str, value: &Bson) -> Result<Vec<Operand>, String> {
    let Bson::Array(items) = value else {
        return Err(format!("{op} needs an array, found {}", describe(value)));
    };
    items
        .iter()
        .map(|item| match item {
            Bson::Document(doc) if is_operators(doc) => {
                Err(format!("{op} cannot hold an operator"))
            }
            other => compile_operand(other),
        })
        .collect()
}

fn compile_comparison(op: &str, bound: &Bson, orders: &'static [Ordering]) -> Result<Test, String> {
    // Only these kinds are ordered (see `compare`); a bound of another kind
    // would never match, which is better said at start-up.
    if float(bound).is_none() && !matches!(bound, Bson::String(_) | Bson::DateTime(_)) {
        return Err(format!("{op} needs a number, a string or a date"));
    }
    Ok(Test::Compare(bound.clone(), orders))
}

/// `$regex` takes a string with `$options` beside it, or a regex value
/// that carries its own options.
fn compile_regex_op(pattern: &Bson, options: Option<&Bson>) -> Result<Operand, String> {
    let options = match options {
        None => "",
        Some(Bson::String(options)) => options.as_str(),
        Some(_) => return Err("$options needs a string".to_owned()),
    };
    match pattern {
        Bson::String(pattern) => compile_regex(pattern, options),
        Bson::RegularExpression(re) if options.is_empty() => {
            compile_regex(&re.pattern, &re.options)
        }
        Bson::RegularExpression(_) => Err("$options cannot be given with a regex value".to_owned()),
        other => Err(format!("$regex needs a string, found {}", describe(other))),
    }
}

/// MongoDB's options i, m, s and x are the same flags in the regex crate.
fn compile_regex(pattern: &str, options: &str) -> Result<Operand, String> {
    if let Some(letter) = options.chars().find(|letter| !"imsx".contains(*letter)) {
        return Err(format!("regex option {letter} is not one of i, m, s and x"));
    }
    // In a fixed order, once each: the regex crate refuses a repeated flag.
    let flags: String = "imsx"
        .chars()
        .filter(|flag| options.contains(*flag))
        .collect();
    let source = if flags.is_empty() {
        pattern.to_owned()
    } else {
        format!("(?{flags}){pattern}")
    };
    Regex::new(&source).map(Operand::Pattern).map_err(|why| {
        // The crate's message draws the pattern over several lines; the
        // reason, after the last "error: ", is what fits in one sentence.
        let why = why.to_string();
        let reason = why.rsplit("error: ").next().unwrap_or_default().trim();
        format!("invalid regex /{pattern}/: {reason}")
    })
}

/// "document", "array", "string", "int32"...: for error messages.
fn describe(value: &Bson) -> String {
    match value {
        Bson::Document(_) => "document".to_owned(),
        other => format!("{:?}", other.element_type()).to_lowercase(),
    }
}

fn query_holds(query: &Query, event: &Document) -> bool {
    query.iter().all(|clause| clause.holds(event))
}

impl Clause {
    fn holds(&self, event: &Document) -> bool {
        match self {
            Clause::And(queries) => queries.iter().all(|query| query_holds(query, event)),
            Clause::Or(queries) => queries.iter().any(|query| query_holds(query, event)),
            Clause::Nor(queries) => !queries.iter().any(|query| query_holds(query, event)),
            Clause::Field(path, tests) => {
                let found = lookup(event, path);
                tests.iter().all(|test| test.holds(&found))
            }
        }
    }
}

impl Test {
    /// `found` is every value at the path (none when it is missing).
    fn holds(&self, found: &[&Bson]) -> bool {
        match self {
            Test::Eq(operand) => operand.matches_any(found),
            Test::In(operands) => operands.iter().any(|operand| operand.matches_any(found)),
            Test::Exists(wanted) => found.is_empty() != *wanted,
            Test::Compare(bound, orders) => found.iter().any(|value| {
                value_or_elements(value, |value| {
                    compare(value, bound).is_some_and(|order| orders.contains(&order))
                })
            }),
            Test::Not(tests) => !tests.iter().all(|test| test.holds(found)),
        }
    }
}

impl Operand {
    fn matches_any(&self, found: &[&Bson]) -> bool {
        // As in MongoDB, `null` also stands for a missing field.
        if found.is_empty() {
            return matches!(self, Operand::Value(Bson::Null));
        }
        found
            .iter()
            .any(|value| value_or_elements(value, |value| self.matches(value)))
    }

    fn matches(&self, value: &Bson) -> bool {
        match self {
            Operand::Value(wanted) => equal(value, wanted),
            Operand::Pattern(re) => matches!(value, Bson::String(text) if re.is_match(text)),
        }
    }
}

/// MongoDB tests an array both whole and by each of its elements, so
/// `{ roles: "x" }` matches `roles: ["x", "y"]`.
fn value_or_elements(value: &Bson, test: impl Fn(&Bson) -> bool) -> bool {
    test(value) || matches!(value, Bson::Array(items) if items.iter().any(&test))
}

/// The values at a dotted path. Arrays on the way fan out into their
/// documents (`users.user` finds every user's name), and a numeric part
/// also picks an element (`users.0.user`).
fn lookup<'a>(event: &'a Document, path: &[String]) -> Vec<&'a Bson> {
    let mut found = Vec::new();
    if let Some((first, rest)) = path.split_first()
        && let Some(value) = event.get(first)
    {
        descend(value, rest, &mut found);
    }
    found
}

fn descend<'a>(value: &'a Bson, path: &[String], found: &mut Vec<&'a Bson>) {
    let Some((first, rest)) = path.split_first() else {
        found.push(value);
        return;
    };
    match value {
        Bson::Document(doc) => {
            if let Some(inner) = doc.get(first) {
                descend(inner, rest, found);
            }
        }
        Bson::Array(items) => {
            if let Ok(index) = first.parse::<usize>()
                && let Some(item) = items.get(index)
            {
                descend(item, rest, found);
            }
            for item in items {
                if let Bson::Document(_) = item {
                    descend(item, path, found);
                }
            }
        }
        _ => {}
    }
}

/// Equality as MongoDB has it: numbers by value whatever their type,
/// documents field by field in order, arrays element by element.
fn equal(a: &Bson, b: &Bson) -> bool {
    if float(a).is_some() && float(b).is_some() {
        return compare(a, b) == Some(Equal);
    }
    match (a, b) {
        (Bson::Document(x), Bson::Document(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((xk, xv), (yk, yv))| xk == yk && equal(xv, yv))
        }
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(xv, yv)| equal(xv, yv))
        }
        _ => a == b,
    }
}

/// The order of two values of one kind (numbers, strings or dates); values
/// of different kinds are not ordered, as with MongoDB's type bracketing.
fn compare(a: &Bson, b: &Bson) -> Option<Ordering> {
    match (a, b) {
        (Bson::String(x), Bson::String(y)) => Some(x.cmp(y)),
        (Bson::DateTime(x), Bson::DateTime(y)) => Some(x.cmp(y)),
        _ => match (integer(a), integer(b)) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            // A double on either side: compared as doubles, exact for the
            // integers audit events carry (codes, ports, counts).
            _ => float(a)?.partial_cmp(&float(b)?),
        },
    }
}

fn integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        _ => None,
    }
}

/// Any number, as a double.
fn float(value: &Bson) -> Option<f64> {
    match value {
        Bson::Double(n) => Some(*n),
        _ => integer(value).map(|n| n as f64),
    }
}
#[cfg(test)]
mod tests {
    use super::Filter;
    use bson::{DateTime, Document, doc};

    /// Asserts that the event passes every filter of `hits` and none of `misses`.
    fn check(event: &Document, hits: &[&str], misses: &[&str]) {
        for (texts, wanted) in [(hits, true), (misses, false)] {
            for text in texts {
                match Filter::parse(text) {
                    Ok(filter) => assert_eq!(filter.matches(event), wanted, "{text}"),
                    Err(why) => panic!("{text}: {why}"),
                }
            }
        }
    }

    fn auth_check(command: &str) -> Document {
        doc! {
            "atype": "authCheck",
            "ts": DateTime::from_millis(1_700_000_000_000),
            "users": [{ "user": "tim", "db": "admin" }, { "user": "ann", "db": "test" }],
            "roles": ["read", "dbAdmin"],
            "param": { "command": command, "ns": "test.orders", "args": { "find": "orders" } },
            "result": 0,
        }
    }

    #[test]
    fn equality_on_top_level_and_dotted_paths() {
        let hits = [
            "{}",
            r#"{ "atype": "authCheck", "result": 0 }"#,
            r#"{ "param.command": "find", "param.ns": "test.orders" }"#,
            r#"{ "param.args": { "find": "orders" } }"#,
            "{ gone: null, $comment: 'null stands for missing; comments are ignored' }",
        ];
        let misses = [
            r#"{ "atype": "authenticate" }"#,
            r#"{ "param.command": "find", "param.ns": "admin.x" }"#,
            r#"{ "param.command.x": "find" }"#,
            r#"{ "param": { "ns": "test.orders", "command": "find" } }"#,
        ];
        check(&auth_check("find"), &hits, &misses);
    }

    #[test]
    fn arrays_match_by_any_element() {
        let hits = [
            r#"{ "users.user": "tim" }"#,
            r#"{ "users.user": "ann", "users.db": "admin" }"#,
            r#"{ "users.1.user": "ann" }"#,
            r#"{ "users": { "user": "tim", "db": "admin" } }"#,
            r#"{ "roles": "dbAdmin" }"#,
            r#"{ "roles": ["read", "dbAdmin"] }"#,
        ];
        let misses = [r#"{ "users.user": "bob" }"#, r#"{ "roles": "root" }"#];
        check(&auth_check("find"), &hits, &misses);
    }

    #[test]
    fn numbers_compare_across_types_and_ranges() {
        let hits = [
            "{ a: 13.0, b: 13, c: 13 }",
            r#"{ a: { $numberLong: "13" }, b: { $numberDouble: "13" } }"#,
            "{ a: { $gt: 12.5, $lte: 13 }, d: { $gte: 13.5, $lt: 14 } }",
        ];
        let misses = ["{ d: 13 }", "{ a: { $gt: 13 } }", "{ a: { $gt: 'a' } }"];
        check(
            &doc! { "a": 13_i32, "b": 13_i64, "c": 13.0, "d": 13.5 },
            &hits,
            &misses,
        );
        let hits = [
            r#"{ "param.ns": { $gte: "test", $lt: "tesu" } }"#,
            r#"{ ts: { $gt: { $date: "2023-01-01T00:00:00Z" } } }"#,
        ];
        let misses = [r#"{ ts: { $lt: { $date: "2023-01-01T00:00:00Z" } } }"#];
        check(&auth_check("find"), &hits, &misses);
    }

    #[test]
    fn in_nin_exists_ne_not() {
        let hits = [
            "{ result: { $in: [1, 0] }, roles: { $in: ['root', 'read'] } }",
            "{ gone: { $nin: [1, 0] }, other: { $ne: 1 } }",
            "{ gone: { $in: [1, null] } }",
            "{ 'param.ns': { $exists: true }, gone: { $exists: false } }",
            "{ 'users.user': { $not: { $in: ['bob'] } } }",
        ];
        let misses = [
            "{ result: { $nin: [1, 0] } }",
            "{ gone: { $in: [1, 0] } }",
            "{ 'param.gone': { $exists: true } }",
            "{ 'users.user': { $ne: 'tim' } }",
        ];
        check(&auth_check("insert"), &hits, &misses);
    }

    #[test]
    fn regexes_with_options() {
        let hits = [
            "{ 'param.command': { $regex: '^findand', $options: 'i' } }",
            "{ 'param.command': { $regex: 'find  and # x', $options: 'xi' } }",
            "{ 'param.command': { $regularExpression: { pattern: 'MODIFY$', options: 'i' } } }",
            "{ 'param.command': { $in: ['x', { $regularExpression: { pattern: '^f', options: '' } }] } }",
        ];
        let misses = [
            "{ 'param.command': { $regex: '^findand' } }",
            "{ 'param.command': { $not: { $regularExpression: { pattern: 'f', options: '' } } } }",
            "{ result: { $regex: '0' } }",
        ];
        check(&auth_check("findAndModify"), &hits, &misses);
        let hits = [
            "{ text: { $regex: '^two$', $options: 'm' } }",
            "{ text: { $regex: 'one.two', $options: 's' } }",
        ];
        check(
            &doc! { "text": "one\ntwo" },
            &hits,
            &["{ text: { $regex: 'one.two' } }"],
        );
    }

    #[test]
    fn and_or_nor() {
        let hits = [
            "{ $and: [{ atype: 'authCheck' }, { 'param.command': 'delete' }] }",
            "{ $or: [{ atype: 'logout' }, { 'param.command': 'delete' }] }",
            "{ $nor: [{ atype: 'logout' }, { 'param.command': 'find' }] }",
            "{ result: 0, $or: [{ $and: [{ roles: 'read' }] }, { gone: 1 }] }",
        ];
        let misses = [
            "{ $and: [{ atype: 'authCheck' }, { 'param.command': 'find' }] }",
            "{ $or: [{ atype: 'logout' }, { 'param.command': 'find' }] }",
            "{ $nor: [{ atype: 'logout' }, { 'param.command': 'delete' }] }",
        ];
        check(&auth_check("delete"), &hits, &misses);
    }

    #[test]
    fn the_examples_of_mongods_documentation() {
        let ddl = ["{ atype: { $in: [ 'createCollection', 'dropCollection' ] } }"];
        check(&doc! { "atype": "dropCollection" }, &ddl, &[]);
        check(&doc! { "atype": "createIndex" }, &[], &ddl);
        let crud = [concat!(
            r#"{ atype: "authCheck", "param.command": "#,
            r#"{ $in: [ "find", "insert", "delete", "update", "findandmodify" ] } }"#
        )];
        check(&auth_check("update"), &crud, &[]);
        check(&auth_check("aggregate"), &[], &crud);
        let login = doc! { "atype": "authenticate", "param": { "command": "find" } };
        check(&login, &[], &crud);
    }

    #[test]
    fn invalid_filters_are_rejected_with_a_reason() {
        // Each case is "filter => the error it gets".
        for case in [
            "[1, 2] => expected a document, found array",
            "'authCheck' => expected a document, found string",
            "{ $foo: 1 } => unknown operator $foo",
            "{ atype: { $in: ['a'], $foo: 1 } } => unknown operator $foo",
            "{ atype: { $in: 'authCheck' } } => $in needs an array, found string",
            "{ atype: { $nin: { a: 1 } } } => $nin needs an array, found document",
            "{ $or: [] } => $or needs a non-empty array of documents",
            "{ $and: [1] } => $and needs a non-empty array of documents",
            "{ a: { $exists: 'yes' } } => $exists needs true or false",
            "{ a: { $in: [{ $regex: 'x' }] } } => $in cannot hold an operator",
            "{ a: { $options: 'i' } } => $options needs a $regex beside it",
            "{ a: { $gt: [1] } } => $gt needs a number, a string or a date",
            "{ a: { $regex: 'x', $options: 'g' } } => regex option g is not one of i, m, s and x",
            "{ a: { $regex: '(x' } } => invalid regex /(x/: unclosed group",
            "{ 'a..b': 1 } => invalid field path \"a..b\"",
            "{ a: 1 => the filter is not valid JSON: EOF parsing object at line 1 column 1",
        ] {
            let (text, reason) = case.split_once(" => ").unwrap_or_default();
            assert_eq!(Filter::parse(text).err().as_deref(), Some(reason), "{text}");
        }
        let bad_date = Filter::parse("{ ts: { $date: 'not a date' } }").err();
        let extended = "the filter is not valid extended JSON: ";
        assert!(bad_date.is_some_and(|why| why.starts_with(extended)));
    }
}

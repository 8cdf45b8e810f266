//! The sliver of BSON that `mongossl check` needs: encoding a command of
//! strings and int32s, and decoding any reply into values it can look
//! fields up in, refusing malformed input instead of trusting lengths.
//!
//! Why not the `bson` crate: it is the ecosystem's and complete, but it
//! brings serde, chrono, uuid, rand, indexmap and more into a binary whose
//! only BSON is one `hello` out and one reply in. Decoding every BSON type
//! well enough to skip it is a page of code with unit tests.

use std::fmt;

/// A decoded BSON value. Types `check` never reads keep only what makes
/// them printable.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Double(f64),
    String(String),
    Document(Document),
    Array(Vec<Value>),
    Binary {
        subtype: u8,
        len: usize,
    },
    ObjectId([u8; 12]),
    Bool(bool),
    DateTime(i64),
    Null,
    Int32(i32),
    Timestamp {
        time: u32,
        increment: u32,
    },
    Int64(i64),
    /// Any other type (regex, code, decimal128, min/max key, ...), by its
    /// type byte.
    Other(u8),
}

/// A BSON document: its fields in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document(pub Vec<(String, Value)>);

impl Document {
    /// The first field named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Encodes the document. Only the types a command needs are written;
    /// anything else is a programming error caught by the unit tests.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0, 0, 0, 0];
        for (key, value) in &self.0 {
            match value {
                Value::Int32(n) => {
                    out.push(0x10);
                    cstring(&mut out, key);
                    out.extend(n.to_le_bytes());
                }
                Value::String(s) => {
                    out.push(0x02);
                    cstring(&mut out, key);
                    out.extend(((s.len() + 1) as i32).to_le_bytes());
                    out.extend(s.as_bytes());
                    out.push(0);
                }
                Value::Bool(b) => {
                    out.push(0x08);
                    cstring(&mut out, key);
                    out.push(u8::from(*b));
                }
                other => debug_assert!(false, "encoding {other:?} is not supported"),
            }
        }
        out.push(0);
        let length = (out.len() as i32).to_le_bytes();
        out[..4].copy_from_slice(&length);
        out
    }
}

fn cstring(out: &mut Vec<u8>, text: &str) {
    // Keys are the command's own constants; none contains a NUL.
    out.extend(text.as_bytes());
    out.push(0);
}

impl Value {
    /// A number of any BSON numeric type (`ok` is a double from mongod,
    /// an int from some other servers).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int32(n) => Some(f64::from(*n)),
            Value::Int64(n) => Some(*n as f64),
            _ => None,
        }
    }

    /// An integer of any BSON integer type, or a double that is whole.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int32(n) => Some(i64::from(*n)),
            Value::Int64(n) => Some(*n),
            Value::Double(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => Some(*d as i64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// A short, shell-like rendering for the text report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Double(d) => write!(f, "{d}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Document(d) => {
                f.write_str("{")?;
                for (i, (k, v)) in d.0.iter().enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    write!(f, "{sep}{k}: {v}")?;
                }
                f.write_str(" }")
            }
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{v}")?;
                }
                f.write_str("]")
            }
            Value::Binary { subtype, len } => write!(f, "Binary(subtype {subtype}, {len} bytes)"),
            Value::ObjectId(id) => {
                f.write_str("ObjectId(")?;
                for b in id {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(")")
            }
            Value::Bool(b) => write!(f, "{b}"),
            Value::DateTime(ms) => write!(f, "Date({ms})"),
            Value::Null => f.write_str("null"),
            Value::Int32(n) => write!(f, "{n}"),
            Value::Timestamp { time, increment } => write!(f, "Timestamp({time}, {increment})"),
            Value::Int64(n) => write!(f, "Long({n})"),
            Value::Other(t) => write!(f, "(BSON type 0x{t:02x})"),
        }
    }
}

/// Nesting deeper than this is refused rather than recursed into: a hello
/// reply nests two or three levels.
const MAX_DEPTH: usize = 64;

/// Decodes one document that must fill `bytes` exactly.
pub fn decode(bytes: &[u8]) -> Result<Document, String> {
    let mut reader = Reader { bytes, at: 0 };
    let doc = reader.document(0)?;
    if reader.at != bytes.len() {
        return Err(format!(
            "{} stray byte(s) after the document",
            bytes.len() - reader.at
        ));
    }
    Ok(doc)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!("truncated BSON at byte {}", self.at));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn length(&mut self, minimum: usize) -> Result<usize, String> {
        let n = self.i32()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n >= minimum)
            .ok_or_else(|| format!("bad BSON length {n} at byte {}", self.at - 4))
    }

    fn cstring(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let Some(nul) = rest.iter().position(|b| *b == 0) else {
            return Err("unterminated BSON key".to_string());
        };
        let text = String::from_utf8_lossy(&rest[..nul]).into_owned();
        self.at += nul + 1;
        Ok(text)
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.length(1)?;
        let raw = self.take(n)?;
        match raw.split_last() {
            Some((0, text)) => Ok(String::from_utf8_lossy(text).into_owned()),
            _ => Err("BSON string without its terminating NUL".to_string()),
        }
    }

    fn document(&mut self, depth: usize) -> Result<Document, String> {
        if depth > MAX_DEPTH {
            return Err("BSON nested too deeply".to_string());
        }
        let start = self.at;
        let length = self.length(5)?;
        let end = start
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("BSON document of {length} bytes is truncated"))?;
        let mut fields = Vec::new();
        loop {
            let [kind] = self.array()?;
            if kind == 0 {
                break;
            }
            let key = self.cstring()?;
            let value = self.value(kind, depth)?;
            fields.push((key, value));
            if self.at >= end {
                return Err("BSON document overruns its length".to_string());
            }
        }
        if self.at != end {
            return Err("BSON document length does not match its contents".to_string());
        }
        Ok(Document(fields))
    }

    fn value(&mut self, kind: u8, depth: usize) -> Result<Value, String> {
        Ok(match kind {
            0x01 => Value::Double(f64::from_le_bytes(self.array()?)),
            0x02 => Value::String(self.string()?),
            0x03 => Value::Document(self.document(depth + 1)?),
            0x04 => Value::Array(
                self.document(depth + 1)?
                    .0
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect(),
            ),
            0x05 => {
                let len = self.length(0)?;
                let [subtype] = self.array()?;
                self.take(len)?;
                Value::Binary { subtype, len }
            }
            0x06 | 0x7f | 0xff => Value::Other(kind), // undefined, max/min key: no payload
            0x07 => Value::ObjectId(self.array()?),
            0x08 => match self.array()? {
                [0] => Value::Bool(false),
                [1] => Value::Bool(true),
                [b] => return Err(format!("BSON boolean with byte {b}")),
            },
            0x09 => Value::DateTime(i64::from_le_bytes(self.array()?)),
            0x0a => Value::Null,
            0x0b => {
                self.cstring()?;
                self.cstring()?;
                Value::Other(kind)
            }
            0x0c => {
                self.string()?;
                self.take(12)?;
                Value::Other(kind)
            }
            0x0d | 0x0e => {
                self.string()?;
                Value::Other(kind)
            }
            0x0f => {
                // Code with scope: a total length covering a string and a document.
                let total = self.length(14)?;
                self.take(total - 4)?;
                Value::Other(kind)
            }
            0x10 => Value::Int32(self.i32()?),
            0x11 => {
                let increment = u32::from_le_bytes(self.array()?);
                let time = u32::from_le_bytes(self.array()?);
                Value::Timestamp { time, increment }
            }
            0x12 => Value::Int64(i64::from_le_bytes(self.array()?)),
            0x13 => {
                self.take(16)?;
                Value::Other(kind)
            }
            other => return Err(format!("unknown BSON type 0x{other:02x}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Document {
        Document(vec![
            ("hello".to_string(), Value::Int32(1)),
            ("$db".to_string(), Value::String("admin".to_string())),
        ])
    }

    #[test]
    fn encodes_a_command_as_the_spec_lays_it_out() {
        let bytes = hello().encode();
        let mut expected = vec![31, 0, 0, 0];
        expected.extend(b"\x10hello\0\x01\0\0\0");
        expected.extend(b"\x02$db\0\x06\0\0\0admin\0");
        expected.push(0);
        assert_eq!(bytes, expected);
        assert_eq!(decode(&bytes), Ok(hello()));
    }

    /// A hello reply as mongod 6.0 sends it, with the types it uses.
    fn mongod_reply() -> Vec<u8> {
        let mut body: Vec<u8> = Vec::new();
        body.extend(b"\x08isWritablePrimary\0\x01");
        body.extend(b"\x03topologyVersion\0");
        let mut tv: Vec<u8> = Vec::new();
        tv.extend(b"\x07processId\0");
        tv.extend([0xab; 12]);
        tv.extend(b"\x12counter\0");
        tv.extend(0i64.to_le_bytes());
        body.extend(((tv.len() + 5) as i32).to_le_bytes());
        body.extend(tv);
        body.push(0);
        body.extend(b"\x10maxWireVersion\0");
        body.extend(17i32.to_le_bytes());
        body.extend(b"\x09localTime\0");
        body.extend(1_700_000_000_000i64.to_le_bytes());
        body.extend(b"\x04hosts\0");
        let mut hosts: Vec<u8> = Vec::new();
        hosts.extend(b"\x020\0\x07\0\0\0a:1234\0");
        hosts.extend(b"\x021\0\x07\0\0\0b:1234\0");
        body.extend(((hosts.len() + 5) as i32).to_le_bytes());
        body.extend(hosts);
        body.push(0);
        body.extend(b"\x05speculative\0\x02\0\0\0\x00xy");
        body.extend(b"\x11operationTime\0\x01\0\0\0\x02\0\0\0");
        body.extend(b"\x0aelectionId\0");
        body.extend(b"\x01ok\0");
        body.extend(1.0f64.to_le_bytes());
        let mut doc = ((body.len() + 5) as i32).to_le_bytes().to_vec();
        doc.extend(body);
        doc.push(0);
        doc
    }

    #[test]
    fn decodes_a_mongod_reply() {
        let doc = decode(&mongod_reply()).expect("decodes");
        assert_eq!(doc.get("isWritablePrimary"), Some(&Value::Bool(true)));
        assert_eq!(doc.get("maxWireVersion").and_then(Value::as_i64), Some(17));
        assert_eq!(doc.get("ok").and_then(Value::as_f64), Some(1.0));
        assert_eq!(
            doc.get("hosts"),
            Some(&Value::Array(vec![
                Value::String("a:1234".into()),
                Value::String("b:1234".into())
            ]))
        );
        assert_eq!(
            doc.get("operationTime"),
            Some(&Value::Timestamp {
                time: 2,
                increment: 1
            })
        );
        assert_eq!(doc.get("electionId"), Some(&Value::Null));
        assert_eq!(
            doc.get("speculative"),
            Some(&Value::Binary { subtype: 0, len: 2 })
        );
        match doc.get("topologyVersion") {
            Some(Value::Document(tv)) => assert_eq!(tv.get("counter"), Some(&Value::Int64(0))),
            other => panic!("topologyVersion: {other:?}"),
        }
    }

    #[test]
    fn refuses_every_truncation_and_lies_about_lengths() {
        let good = mongod_reply();
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut} accepted");
        }
        let mut longer = good.clone();
        longer[0] = longer[0].wrapping_add(1);
        assert!(decode(&longer).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        // A string whose length points past the document.
        assert!(decode(b"\x12\0\0\0\x02s\0\xff\0\0\0abc\0\0").is_err());
        // An unknown type byte.
        assert!(decode(b"\x08\0\0\0\x42a\0\0").is_err());
    }

    #[test]
    fn refuses_deep_nesting() {
        // 100 nested empty-keyed documents, each 7 bytes larger than the one inside.
        let mut doc = vec![5, 0, 0, 0, 0];
        for _ in 0..100 {
            let mut outer = ((doc.len() + 7) as i32).to_le_bytes().to_vec();
            outer.extend(b"\x03\0");
            outer.extend(&doc);
            outer.push(0);
            doc = outer;
        }
        let err = decode(&doc).expect_err("too deep");
        assert!(err.contains("deeply"), "{err}");
    }

    #[test]
    fn numbers_of_every_kind() {
        assert_eq!(Value::Int32(1).as_f64(), Some(1.0));
        assert_eq!(Value::Int64(21).as_i64(), Some(21));
        assert_eq!(Value::Double(17.0).as_i64(), Some(17));
        assert_eq!(Value::Double(1.5).as_i64(), None);
        assert_eq!(Value::String("1".into()).as_f64(), None);
    }
}

//! One connection's audit: pairs each command with its reply by
//! `requestID`/`responseTo`, follows authentication conversations (SCRAM
//! through `saslStart`/`saslContinue`, speculative authentication inside
//! the first hello, MONGODB-X509's `authenticate`) to the server's final
//! answer, keeps the connection's users, and turns all of it into events.

use std::collections::HashMap;
use std::sync::Arc;

use bson::{DateTime, Document, RawDocument, doc, spec::BinarySubtype};

use super::events::{self, Check, Endpoints, Event, Param, User};
use crate::proxy::tap::Flow;
use crate::taps::wire::messages::{Command, Message, Reply};

/// Commands waiting for a reply, at most; a client that pipelines more
/// (or a reply that never comes) has the oldest audited without a result.
const MAX_PENDING: usize = 1024;

/// mongod's AuthenticationFailed.
pub const AUTHENTICATION_FAILED: i32 = 18;

/// A login under way: who, where, how.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Login {
    user: String,
    db: String,
    mechanism: String,
}

/// What a pending request is, for what its reply means.
enum Waiting {
    /// An ordinary command: its authCheck event waits for the result.
    Check(Check),
    /// A hello, maybe carrying a speculative login.
    Hello { speculative: Option<Login> },
    /// A login step (`saslStart`, `saslContinue`, `authenticate`).
    Login(Login),
}

struct Pending {
    sent: DateTime,
    waiting: Waiting,
}

pub struct Session {
    endpoints: Arc<Endpoints>,
    redact: bool,
    /// The client certificate's subject: MONGODB-X509's user name.
    certificate_subject: Option<String>,
    /// Shared with every event made while they are the users.
    users: Arc<[User]>,
    pending: HashMap<i32, Pending>,
    /// A SASL conversation between its steps.
    login: Option<Login>,
    metadata_seen: bool,
}

impl Session {
    pub fn new(endpoints: Endpoints, redact: bool, certificate_subject: Option<String>) -> Session {
        Session {
            endpoints: Arc::new(endpoints),
            redact,
            certificate_subject,
            users: Arc::new([]),
            pending: HashMap::new(),
            login: None,
            metadata_seen: false,
        }
    }

    /// An event of this connection, now, with its current users.
    pub fn event(&self, atype: &'static str, param: Document, result: i32) -> Event {
        self.event_at(atype, DateTime::now(), Param::Document(param), result)
    }

    fn event_at(&self, atype: &'static str, ts: DateTime, param: Param, result: i32) -> Event {
        Event {
            atype,
            ts,
            endpoints: self.endpoints.clone(),
            users: self.users.clone(),
            param,
            result,
        }
    }

    /// Takes one decoded message; pushes the events it completes.
    pub fn message(&mut self, flow: Flow, message: Message, out: &mut Vec<Event>) {
        match message {
            Message::Command(command) => self.command(command, out),
            Message::Reply(reply) => self.reply(reply, out),
            Message::Other { op_code, why } => out.push(self.undecoded(flow, op_code, &why)),
        }
    }

    /// mongossl's event for a message it relayed but could not read.
    pub fn undecoded(&self, flow: Flow, op_code: i32, why: &str) -> Event {
        let direction = match flow {
            Flow::ToUpstream => "request",
            Flow::ToClient => "reply",
        };
        self.event(
            "undecodedMessage",
            doc! { "direction": direction, "opCode": op_code, "reason": why },
            0,
        )
    }

    fn command(&mut self, command: Command, out: &mut Vec<Event>) {
        let sent = DateTime::now();
        let waiting = match command.name.as_str() {
            "hello" | "isMaster" | "ismaster" => {
                self.client_metadata(&command, out);
                Waiting::Hello {
                    speculative: command
                        .body
                        .get_document("speculativeAuthenticate")
                        .ok()
                        .and_then(|start| self.login_of(start, command.db())),
                }
            }
            "saslStart" | "authenticate" => match self.login_of(&command.body, command.db()) {
                Some(login) => Waiting::Login(login),
                None => return,
            },
            "saslContinue" => match self.login.clone() {
                Some(login) => Waiting::Login(login),
                None => return,
            },
            "logout" => {
                let db = command.db().to_string();
                self.logout(&db, "Explicit logout", out);
                return;
            }
            _ => match Check::of(&command.body, command.legacy_db.as_deref(), self.redact) {
                Ok(check) => Waiting::Check(Check {
                    sequences: command.sequences,
                    compressor: command.compressor,
                    ..check
                }),
                Err(why) => {
                    out.push(self.undecoded(Flow::ToUpstream, command.op_code, &why));
                    return;
                }
            },
        };
        if command.more_to_come {
            // No reply will come: the event is complete as sent.
            if let Waiting::Check(check) = waiting {
                out.push(self.event_at("authCheck", sent, Param::Check(check), 0));
            }
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.flush_oldest(out);
        }
        self.pending
            .insert(command.request_id, Pending { sent, waiting });
    }

    /// mongod's clientMetadata event, from the first hello that has it.
    fn client_metadata(&mut self, command: &Command, out: &mut Vec<Event>) {
        let Some(client) = command
            .body
            .get_document("client")
            .ok()
            .and_then(|client| Document::try_from(client).ok())
        else {
            return;
        };
        if std::mem::replace(&mut self.metadata_seen, true) {
            return;
        }
        let local = self
            .endpoints
            .local
            .as_ref()
            .map(events::endpoint)
            .unwrap_or_default();
        let param = doc! { "localEndpoint": local, "clientMetadata": client };
        out.push(self.event("clientMetadata", param, 0));
    }

    /// Who a `saslStart`/`authenticate` (or a hello's speculative one)
    /// logs in as.
    fn login_of(&self, start: &RawDocument, db: &str) -> Option<Login> {
        let mechanism = start.get_str("mechanism").ok()?.to_string();
        let db = start.get_str("db").unwrap_or(db).to_string();
        let user = match mechanism.as_str() {
            "MONGODB-X509" => match start.get_str("user") {
                Ok(user) => user.to_string(),
                Err(_) => self.certificate_subject.clone().unwrap_or_default(),
            },
            _ => match start.get_binary("payload") {
                Ok(b) if b.subtype == BinarySubtype::Generic => {
                    sasl_user(&mechanism, b.bytes).unwrap_or_default()
                }
                _ => String::new(),
            },
        };
        Some(Login {
            user,
            db,
            mechanism,
        })
    }

    fn reply(&mut self, reply: Reply, out: &mut Vec<Event>) {
        let Some(pending) = self.pending.remove(&reply.response_to) else {
            // The rest of an exhaust stream, or a reply to what was not
            // decoded: nothing waits for it.
            return;
        };
        match pending.waiting {
            Waiting::Check(check) => {
                let result = reply.code();
                out.push(self.event_at("authCheck", pending.sent, Param::Check(check), result));
            }
            Waiting::Hello { speculative } => {
                let (Some(login), Some(answer)) =
                    (speculative, reply.document("speculativeAuthenticate"))
                else {
                    return;
                };
                // X.509 is done in one step; SASL goes on with saslContinue.
                let done =
                    login.mechanism == "MONGODB-X509" || answer.get_bool("done").unwrap_or(false);
                if done {
                    self.logged_in(login, pending.sent, out);
                } else {
                    self.login = Some(login);
                }
            }
            Waiting::Login(login) => {
                if !reply.ok() {
                    self.login = None;
                    let code = match reply.code() {
                        0 => AUTHENTICATION_FAILED,
                        code => code,
                    };
                    out.push(self.event_at(
                        "authenticate",
                        pending.sent,
                        Param::Document(login_param(&login)),
                        code,
                    ));
                } else if login.mechanism == "MONGODB-X509"
                    || reply.body.get_bool("done").unwrap_or(false)
                {
                    self.login = None;
                    self.logged_in(login, pending.sent, out);
                } else {
                    self.login = Some(login);
                }
            }
        }
    }

    fn logged_in(&mut self, login: Login, sent: DateTime, out: &mut Vec<Event>) {
        let user = User {
            user: login.user.clone(),
            db: login.db.clone(),
        };
        // One user per database, as mongod keeps them.
        let mut users: Vec<User> = self.others_than(&user.db);
        users.push(user);
        self.users = users.into();
        let param = Param::Document(login_param(&login));
        out.push(self.event_at("authenticate", sent, param, 0));
    }

    fn logout(&mut self, db: &str, reason: &str, out: &mut Vec<Event>) {
        let initial = events::users_bson(&self.users);
        self.users = self.others_than(db).into();
        let param = doc! {
            "reason": reason,
            "initialUsers": initial,
            "updatedUsers": events::users_bson(&self.users),
        };
        out.push(self.event("logout", param, 0));
    }

    /// The users but the one of `db`.
    fn others_than(&self, db: &str) -> Vec<User> {
        self.users.iter().filter(|u| u.db != db).cloned().collect()
    }

    /// Audits the oldest waiting command without its result.
    fn flush_oldest(&mut self, out: &mut Vec<Event>) {
        let Some(oldest) = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.sent)
            .map(|(id, _)| *id)
        else {
            return;
        };
        if let Some(Pending {
            sent,
            waiting: Waiting::Check(check),
        }) = self.pending.remove(&oldest)
        {
            out.push(self.unanswered(sent, check));
        }
    }

    /// The connection ended: commands still waiting are audited without a
    /// result, and a logged-in connection logs out as mongod records it.
    pub fn ended(&mut self, reason: &str, out: &mut Vec<Event>) {
        let mut left: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        left.sort_by_key(|p| p.sent);
        for pending in left {
            if let Waiting::Check(check) = pending.waiting {
                out.push(self.unanswered(pending.sent, check));
            }
        }
        if !self.users.is_empty() {
            let initial = events::users_bson(&self.users);
            self.users = Arc::new([]);
            let param = doc! {
                "reason": "Client has disconnected",
                "initialUsers": initial,
                "updatedUsers": Vec::<bson::Bson>::new(),
            };
            out.push(self.event("logout", param, 0));
        }
        out.push(self.event("clientDisconnect", doc! { "reason": reason }, 0));
    }
}

impl Session {
    /// A command's authCheck without a result: its reply was not seen.
    fn unanswered(&self, sent: DateTime, check: Check) -> Event {
        let check = Check {
            reply_seen: false,
            ..check
        };
        self.event_at("authCheck", sent, Param::Check(check), 0)
    }
}

fn login_param(login: &Login) -> Document {
    doc! { "user": &login.user, "db": &login.db, "mechanism": &login.mechanism }
}

/// The user name in a SASL mechanism's first client message: SCRAM's
/// `n,,n=USER,r=NONCE` (RFC 5802, `=2C` and `=3D` escaped) or PLAIN's
/// `authzid NUL authcid NUL password` (the password is not kept).
fn sasl_user(mechanism: &str, payload: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(payload).ok()?;
    if mechanism == "PLAIN" {
        return text.split('\0').nth(1).map(str::to_string);
    }
    let bare = text.splitn(3, ',').nth(2)?;
    let name = bare.split(',').find_map(|part| part.strip_prefix("n="))?;
    Some(name.replace("=2C", ",").replace("=3D", "="))
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod conversation_tests;

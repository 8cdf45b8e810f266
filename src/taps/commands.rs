//! The command metrics (`mongossl_commands_total{command,result}` and
//! `mongossl_command_duration_seconds`): a tap on each relayed connection
//! that frames both directions, glances at each message (the command's
//! name, the reply's `ok`), pairs a reply with its request by
//! `responseTo`, and adds the result to the counters of the connection's
//! own loop.

use std::sync::Arc;
use std::time::Instant;

use crate::proxy::stats::{COMMAND_SLOTS, LoopStats};
use crate::proxy::tap::{Flow, Opened, Tap, TapMaker};
use crate::taps::wire::framing::{Directions, Found, Framer};
use crate::taps::wire::glance::{Glance, glance};

/// The commands counted under their own name; every other name (and a
/// request that does not decode) is `other`, so that clients cannot grow
/// the label set by inventing names.
const NAMES: &[&str] = &[
    "hello",
    "isMaster",
    "ismaster",
    "ping",
    "buildInfo",
    "saslStart",
    "saslContinue",
    "authenticate",
    "logout",
    "find",
    "getMore",
    "killCursors",
    "insert",
    "update",
    "delete",
    "findAndModify",
    "aggregate",
    "count",
    "distinct",
    "bulkWrite",
    "listCollections",
    "listDatabases",
    "listIndexes",
    "create",
    "drop",
    "dropDatabase",
    "createIndexes",
    "dropIndexes",
    "collMod",
    "renameCollection",
    "createUser",
    "updateUser",
    "dropUser",
    "usersInfo",
    "grantRolesToUser",
    "revokeRolesFromUser",
    "createRole",
    "dropRole",
    "rolesInfo",
    "startSession",
    "endSessions",
    "commitTransaction",
    "abortTransaction",
    "explain",
    "serverStatus",
    "dbStats",
    "collStats",
    "connectionStatus",
    "getParameter",
    "setParameter",
    "getCmdLineOpts",
    "getLog",
    "hostInfo",
    "currentOp",
    "killOp",
    "replSetGetStatus",
    "validate",
    "compact",
    "shutdown",
];
const OTHER: usize = COMMAND_SLOTS - 1;
const _: () = assert!(NAMES.len() <= OTHER);

/// Only a command's name and a reply's `ok` are read: the first 16 KiB of
/// a message hold both (a reply cut short is never an error reply).
const CAPTURE: usize = 16 * 1024;
/// Requests awaiting replies, per connection; past it the oldest is
/// forgotten (a client pipelining without reading).
const MAX_PENDING: usize = 256;

pub fn slot_of(name: &str) -> usize {
    NAMES.iter().position(|n| *n == name).unwrap_or(OTHER)
}

/// The `command` label of a slot.
pub fn name_of(slot: usize) -> &'static str {
    NAMES.get(slot).copied().unwrap_or("other")
}

/// Makes the per-connection counters; on when `--metricsListen` is.
pub struct CommandCounter;

impl TapMaker for CommandCounter {
    fn open(&self, opened: &Opened) -> Box<dyn Tap> {
        Box::new(CommandTap {
            stats: opened.stats.clone(),
            directions: Directions {
                requests: Framer::capturing(CAPTURE),
                replies: Framer::capturing(CAPTURE),
            },
            pending: Vec::new(),
        })
    }
}

struct CommandTap {
    stats: Arc<LoopStats>,
    directions: Directions,
    /// (requestID, slot, when it was read), oldest first; usually one.
    pending: Vec<(i32, usize, Instant)>,
}

impl Tap for CommandTap {
    fn saw(&mut self, flow: Flow, bytes: &[u8]) {
        let CommandTap {
            stats,
            directions,
            pending,
        } = self;
        let is_request = flow == Flow::ToUpstream;
        directions.feed(flow, bytes, &mut |found| {
            let Found::Frame(frame) = found else { return };
            match glance(&frame, is_request) {
                Glance::Request { name, more_to_come } => {
                    let slot = slot_of(&name);
                    if more_to_come {
                        stats.command_done(slot, true, None);
                        return;
                    }
                    if pending.len() >= MAX_PENDING {
                        pending.remove(0);
                    }
                    pending.push((frame.request_id, slot, Instant::now()));
                }
                Glance::Reply { ok } => {
                    if let Some(at) = pending.iter().position(|p| p.0 == frame.response_to) {
                        let (_, slot, sent) = pending.remove(at);
                        stats.command_done(slot, ok, Some(sent.elapsed()));
                    }
                }
            }
        });
    }

    fn ended(&mut self, _reason: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::stats;

    fn message(request_id: i32, response_to: i32, command: &bson::Document) -> Vec<u8> {
        let mut body = 0u32.to_le_bytes().to_vec();
        body.push(0);
        body.extend(bson::to_vec(command).expect("bson"));
        let mut m = ((16 + body.len()) as i32).to_le_bytes().to_vec();
        m.extend(request_id.to_le_bytes());
        m.extend(response_to.to_le_bytes());
        m.extend(crate::wire::OP_MSG.to_le_bytes());
        m.extend(body);
        m
    }

    #[test]
    fn replies_are_paired_and_counted_by_name_and_result() {
        let loop_stats = Arc::new(LoopStats::default());
        let remote = "127.0.0.1:1".parse().expect("address");
        let mut tap = CommandCounter.open(&Opened {
            id: 1,
            remote,
            local: None,
            tls: None,
            stats: &loop_stats,
        });
        let find = message(7, 0, &bson::doc! {"find": "c", "$db": "t"});
        let invented = message(8, 0, &bson::doc! {"noSuchCommand": 1, "$db": "t"});
        // Byte by byte: the framer is fed whatever the reads return.
        for byte in find.iter().chain(&invented) {
            tap.saw(Flow::ToUpstream, std::slice::from_ref(byte));
        }
        tap.saw(
            Flow::ToClient,
            &message(1, 8, &bson::doc! {"ok": 0, "code": 59}),
        );
        tap.saw(Flow::ToClient, &message(2, 7, &bson::doc! {"ok": 1}));
        tap.saw(Flow::ToClient, &message(3, 99, &bson::doc! {"ok": 1}));
        let totals = stats::sum(&[loop_stats]);
        assert_eq!(totals.commands[slot_of("find")], [1, 0]);
        assert_eq!(totals.commands[OTHER], [0, 1]);
        assert_eq!(totals.command_durations.count(), 2);
        assert_eq!(name_of(OTHER), "other");
    }
}

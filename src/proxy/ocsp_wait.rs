//! The phase of a client whose handshake is done but whose certificate's
//! OCSP answer is not known yet: the question goes to the OCSP workers,
//! whose answer comes back through the loop's mailbox; meanwhile nothing
//! is relayed and mongod is not connected, while the loop serves everyone
//! else. At the deadline the client gets the no-answer outcome (mongod's
//! soft-fail, or a refusal under `--sslOCSPRequire`).

use std::sync::Arc;

use super::{Connection, Context, Phase, Step};
use crate::proxy::shared::Command;
use crate::proxy::streams::Socket;
use crate::tls::ocsp::Outcome;
use crate::tls::revocation::Question;
use crate::tls::{ByteStream, PeerVerdict, TlsStream};

/// What the client's handshake left, held until the answer comes.
pub(in crate::proxy) struct AwaitingOcsp {
    stream: TlsStream<Socket>,
    /// The verdict after validation, which the answer may still change.
    verdict: PeerVerdict,
    question: Question,
}

impl AwaitingOcsp {
    /// Gives up: a close_notify, as for any refused client.
    pub(super) fn abandon(&mut self) {
        let _ = self.stream.close_write();
    }
}

impl Connection {
    /// Sends the question to the OCSP workers and waits for the answer.
    pub(super) fn ask_ocsp(
        &mut self,
        stream: TlsStream<Socket>,
        verdict: PeerVerdict,
        question: Question,
        ctx: &Context,
    ) -> (Phase, Step) {
        let mailbox = Arc::clone(ctx.mailbox);
        let (key, id) = (ctx.key, self.id);
        // A failed wake-up leaves the connection to its deadline.
        question.ask(Box::new(move |outcome| {
            let _ = mailbox.send(Command::OcspAnswered { key, id, outcome });
        }));
        self.deadline = Some(ctx.now + question.wait_limit());
        log::debug!(target: &self.context, "asking the OCSP responder about the client certificate");
        let waiting = AwaitingOcsp {
            stream,
            verdict,
            question,
        };
        (Phase::AwaitingOcsp(Box::new(waiting)), Step::Wait)
    }

    /// Whether the connection waits for an OCSP answer.
    pub fn awaits_ocsp(&self) -> bool {
        matches!(self.phase, Phase::AwaitingOcsp(_))
    }

    /// The answer (from the workers, or the no-answer of the deadline):
    /// the client is refused or let in, as `Question::settle` decides. An
    /// answer for a connection that stopped waiting is ignored.
    pub fn ocsp_answered(&mut self, outcome: Outcome, ctx: &Context) -> Step {
        let phase = std::mem::replace(&mut self.phase, Phase::Gone);
        let Phase::AwaitingOcsp(waiting) = phase else {
            self.phase = phase;
            return Step::Wait;
        };
        self.last_active = ctx.now;
        self.deadline = None;
        let AwaitingOcsp {
            stream,
            verdict,
            question,
        } = *waiting;
        let verdict = question.settle(verdict, &outcome);
        let (phase, step) = self.admit(stream, verdict, ctx);
        self.phase = phase;
        step
    }
}

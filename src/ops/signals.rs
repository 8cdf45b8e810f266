//! Signals as mongod operators use them, taken synchronously by the control
//! thread: blocked in every thread before any is spawned, then collected
//! with `sigtimedwait`, so no handler runs inside an event loop.
//! SIGHUP reloads certificates, SIGTERM/SIGINT shut down gracefully,
//! SIGUSR1 rotates the log.

use std::io;
use std::time::Duration;

/// What the operator asked for.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Signal {
    Reload,
    Shutdown,
    RotateLog,
}

/// The blocked signal set.
pub struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    /// Blocks the signals in the calling thread; threads spawned afterwards
    /// inherit the mask. Call before starting any thread.
    pub fn block() -> io::Result<Signals> {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t for these libc calls.
        unsafe {
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
                libc::sigaddset(&mut set, signal);
            }
        }
        // SAFETY: valid set; the old mask is not needed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Signals { set })
    }

    /// Waits up to `timeout` for one of the signals.
    pub fn wait(&self, timeout: Duration) -> Option<Signal> {
        let spec = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: valid set and timespec; no siginfo wanted.
        let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &spec) };
        match signal {
            libc::SIGHUP => Some(Signal::Reload),
            libc::SIGTERM | libc::SIGINT => Some(Signal::Shutdown),
            libc::SIGUSR1 => Some(Signal::RotateLog),
            // -1: timeout (EAGAIN) or EINTR.
            _ => None,
        }
    }
}

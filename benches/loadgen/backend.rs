//! The echo backend: a plaintext stand-in for mongod that sends back every
//! byte it receives, as fast as the proxy takes them, and closes after the
//! proxy's EOF once everything was echoed. One epoll loop per thread, each
//! with its own SO_REUSEPORT listener; buffers exist only while they hold
//! bytes, so 10,000 idle connections cost the backend next to nothing.
//! A PROXY header at the start of a connection (`--upstreamProxyProtocol`)
//! is read past, not echoed, as mongod would.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

const LISTENER: Token = Token(usize::MAX);
const BUFFER: usize = 64 * 1024;

struct Echo {
    stream: TcpStream,
    buf: Option<Box<[u8]>>,
    start: usize,
    end: usize,
    readable: bool,
    writable: bool,
    eof: bool,
    /// The first bytes may still be a PROXY header.
    checking: bool,
}

impl Echo {
    /// Moves bytes until the socket would block; false once the
    /// connection is finished or broken.
    fn drive(&mut self) -> bool {
        loop {
            let mut progress = false;
            if self.readable && !self.eof && self.end < BUFFER {
                let buf = self
                    .buf
                    .get_or_insert_with(|| vec![0; BUFFER].into_boxed_slice());
                match self.stream.read(&mut buf[self.end..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => {
                        self.end += n;
                        if self.checking {
                            self.skip_proxy_header();
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
                progress = true;
            }
            if self.writable && self.start < self.end && !self.checking {
                let buf = self.buf.as_ref().expect("bytes are pending");
                match self.stream.write(&buf[self.start..self.end]) {
                    Ok(n) => {
                        self.start += n;
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
                self.buf = None;
                if self.eof {
                    return false;
                }
            }
            if !progress {
                return true;
            }
        }
    }
}

impl Echo {
    /// Drops a complete PROXY header from the front of the buffer; stops
    /// checking once the bytes are one or cannot be.
    fn skip_proxy_header(&mut self) {
        use mongossl::proxy::header_in::{Parsed, parse};
        let Some(buf) = self.buf.as_ref() else {
            return;
        };
        match parse(&buf[..self.end]) {
            Parsed::Incomplete if self.end < BUFFER => {}
            Parsed::Header { len, .. } => {
                self.start = len;
                self.checking = false;
            }
            _ => self.checking = false,
        }
    }
}

fn serve(mut listener: mio::net::TcpListener, until: Instant) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Slab<Echo> = Slab::new();
    loop {
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        match poll.poll(&mut events, Some((until - now).min(Duration::from_secs(1)))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let entry = conns.vacant_entry();
                            let token = Token(entry.key());
                            poll.registry().register(
                                &mut stream,
                                token,
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            let echo = entry.insert(Echo {
                                stream,
                                buf: None,
                                start: 0,
                                end: 0,
                                readable: true,
                                writable: true,
                                eof: false,
                                checking: true,
                            });
                            if !echo.drive() {
                                conns.remove(token.0);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            eprintln!("loadgen backend: accept: {e}");
                            std::thread::sleep(Duration::from_millis(10));
                            break;
                        }
                    }
                }
                continue;
            }
            let key = event.token().0;
            let Some(echo) = conns.get_mut(key) else {
                continue;
            };
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                echo.readable = true;
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                echo.writable = true;
            }
            if !echo.drive() {
                conns.remove(key);
            }
        }
    }
}

/// Serves on `listen` with `threads` loops for `lifetime`, then exits.
pub fn run(listen: SocketAddr, threads: usize, lifetime: Duration) -> Result<(), String> {
    let until = Instant::now() + lifetime;
    let mut handles = Vec::new();
    for _ in 0..threads.max(1) {
        let listener = crate::net::reuseport_listener(listen)
            .map_err(|e| format!("listening on {listen}: {e}"))?;
        handles.push(std::thread::spawn(move || serve(listener, until)));
    }
    println!("loadgen backend: echoing on {listen} with {threads} thread(s)");
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("backend loop: {e}")),
            Err(_) => return Err("backend thread panicked".into()),
        }
    }
    Ok(())
}

//! Runs the real `mongossl` binary: as a server on port 0 whose log is
//! collected and searched, or as a one-shot command whose exit code and
//! output are checked. A failing test prints the server's whole log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The mongossl binary under test: the one cargo built with the tests, or
/// `MONGOSSL_TEST_BIN` (so the same tests can run against another build,
/// such as `--features vendored`, without compiling them again).
pub fn binary() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        std::env::var("MONGOSSL_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mongossl").to_string())
    })
}

/// A running mongossl.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(reader: impl std::io::Read + Send + 'static, log: Arc<Mutex<String>>) -> JoinHandle<()> {
    collect_twice(reader, log, None)
}

/// Collects lines into `log` and, if given, into `copy` as well.
fn collect_twice(
    reader: impl std::io::Read + Send + 'static,
    log: Arc<Mutex<String>>,
    copy: Option<Arc<Mutex<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            for log in std::iter::once(&log).chain(copy.as_ref()) {
                if let Ok(mut text) = log.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        }
    })
}

impl Server {
    /// Starts mongossl on a free port with these options and waits for
    /// `waiting for connections on port N`.
    pub fn start(args: &[String]) -> Server {
        Server::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[String], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(binary());
        command
            .args(["--port", "0", "--bind_ip", "127.0.0.1"])
            .args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        Server::start_command(command)
    }

    /// Starts mongossl with at most `nofile` open file descriptors. A
    /// shell sets the limit and then `exec`s the binary, so the pid (and
    /// `/proc/PID/...`) is mongossl's own.
    pub fn start_with_fd_limit(args: &[String], nofile: u32) -> Server {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(binary())
            .args(["--port", "0", "--bind_ip", "127.0.0.1"])
            .args(args);
        Server::start_command(command)
    }

    /// Like `start_with_env`, but a mongossl that exits before listening
    /// is an answer (its exit code and output), not a test failure.
    pub fn try_start_with_env(args: &[String], env: &[(&str, &str)]) -> Result<Server, Exit> {
        let mut command = Command::new(binary());
        command
            .args(["--port", "0", "--bind_ip", "127.0.0.1"])
            .args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        Server::try_start_command(command)
    }

    /// Starts a prepared command (its program and arguments are the
    /// caller's) and waits for it to listen.
    pub fn start_command(command: Command) -> Server {
        match Server::try_start_command(command) {
            Ok(server) => server,
            Err(exit) => panic!("mongossl exited early ({:?}):\n{}", exit.code, exit.output),
        }
    }

    fn try_start_command(mut command: Command) -> Result<Server, Exit> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn mongossl");
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect_twice(out, log.clone(), Some(stdout.clone())));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect(err, log.clone()));
        }
        let mut server = Server {
            child,
            port: 0,
            log,
            readers,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(port) = server.announced_port() {
                server.port = port;
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                // The pipes are at EOF now: wait for the readers to drain them.
                for reader in server.readers.drain(..) {
                    let _ = reader.join();
                }
                return Err(Exit {
                    code: status.code(),
                    output: server.log(),
                    stdout: stdout.lock().map(|t| t.clone()).unwrap_or_default(),
                });
            }
            if Instant::now() > deadline {
                panic!("mongossl did not start listening:\n{}", server.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn announced_port(&self) -> Option<u16> {
        let log = self.log();
        let at = log.find("waiting for connections on port ")?;
        let rest = &log[at + "waiting for connections on port ".len()..];
        // The digits: a JSON log line (`--logFormat json`) has a quote next.
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; false after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log().contains(needle)
    }

    /// Asserts the log gets `needle` within 10 s, printing the log if not.
    pub fn expect_log(&self, needle: &str) {
        assert!(
            self.wait_for_log(needle, Duration::from_secs(10)),
            "log line {needle:?} missing; log:\n{}",
            self.log()
        );
    }

    /// Waits (up to 10 s) until `needle` occurs at least `count` times:
    /// a client may see its close before the server logs it.
    pub fn expect_count(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count_in_log(needle) < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            self.count_in_log(needle) >= count,
            "{needle:?} logged {} times, expected {count}; log:\n{}",
            self.count_in_log(needle),
            self.log()
        );
    }

    /// How many times `needle` occurs in the log so far.
    pub fn count_in_log(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Open file descriptors of the server process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// CPU time the server process used so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the `(comm)` part, which may itself hold spaces.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line: 11 and 12
        // here, counting from 0 at `state` (field 3).
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
            .sum();
        // SAFETY: sysconf only reads a constant of the system.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// Waits (up to 10 s) until the server holds `fds` descriptors again;
    /// closes happen on the server's schedule, so a moment may pass.
    pub fn expect_fds(&self, fds: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.open_fds() != fds && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            self.open_fds(),
            fds,
            "file descriptors left behind; log:\n{}",
            self.log()
        );
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the pid of a child this test started.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits up to `timeout` for the server to exit; its exit code.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- mongossl log ----\n{}----------------------",
                self.log()
            );
        }
    }
}

/// The result of a mongossl run that should exit by itself.
pub struct Exit {
    pub code: Option<i32>,
    /// stdout and stderr, interleaved as they came.
    pub output: String,
    /// stdout alone.
    pub stdout: String,
}

/// Runs mongossl expecting it to exit within 20 s (it is killed if not).
pub fn run_to_exit(args: &[String]) -> Exit {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mongossl");
    let log = Arc::new(Mutex::new(String::new()));
    let stdout = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(collect_twice(out, log.clone(), Some(stdout.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(collect(err, log.clone()));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The pipes end with the process: wait until everything was read.
    for reader in readers {
        let _ = reader.join();
    }
    let output = log.lock().map(|t| t.clone()).unwrap_or_default();
    let stdout = stdout.lock().map(|t| t.clone()).unwrap_or_default();
    Exit {
        code: status.and_then(|s| s.code()),
        output,
        stdout,
    }
}

/// Turns `&str` arguments into owned ones.
pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

//! mongod-style log lines: a timestamp, a severity, a context in brackets
//! (`[initandlisten]`, `[connN]`) and the message, to stderr or
//! `--logpath` (rotated aside like mongod's unless `--logappend`, and on
//! SIGUSR1: rename, then reopen), or to syslog with `--syslog` (`syslog`;
//! the daemon stamps the time); or, with `--logFormat json`, mongod
//! 4.4+'s JSON lines (`log_json`).

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::config::LogSettings;
use crate::error::Error;
use crate::ops::syslog::{self, Syslog};

thread_local! {
    /// The severity of the record this thread is writing: the formatter
    /// sets it, the syslog target reads it for the line's priority.
    static SEVERITY: Cell<u8> = const { Cell::new(syslog::INFO) };
}

/// Sets up the global logger; call once, before anything logs.
pub fn init(settings: &LogSettings) -> Result<(), Error> {
    let level = match settings.verbosity {
        i8::MIN..=-1 => log::LevelFilter::Warn,
        0 => log::LevelFilter::Info,
        1 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let json = settings.json;
    let to_syslog = settings.syslog.is_some();
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level).format(move |buf, record| {
        let target = record.target();
        // Module paths mean start-up code; connection code names itself.
        let context = if target.starts_with("mongossl") {
            "initandlisten"
        } else {
            target
        };
        SEVERITY.with(|s| {
            s.set(match record.level() {
                log::Level::Error => syslog::ERROR,
                log::Level::Warn => syslog::WARNING,
                log::Level::Info => syslog::INFO,
                _ => syslog::DEBUG,
            })
        });
        if json {
            let time = buf.timestamp_millis().to_string();
            return super::log_json::write_line(buf, &time, context, record);
        }
        let severity = match record.level() {
            log::Level::Error => "E",
            log::Level::Warn => "W",
            log::Level::Info => "I",
            log::Level::Debug => "D",
            log::Level::Trace => "D2",
        };
        if to_syslog {
            return writeln!(buf, "{severity} [{context}] {}", record.args());
        }
        writeln!(
            buf,
            "{} {severity} [{context}] {}",
            buf.timestamp_millis(),
            record.args()
        )
    });
    if let Some(facility) = settings.syslog {
        // Non-blocking: the loops log, and must not wait for the daemon.
        let syslog = Syslog::new(facility, true);
        if !syslog.connected() {
            return Err(Error::Io {
                option: crate::config::table::SYSLOG.name,
                path: syslog.path().to_path_buf(),
                source: std::io::Error::other("no syslog daemon listens there"),
            });
        }
        builder.target(env_logger::Target::Pipe(Box::new(SyslogTarget(syslog))));
    }
    if let Some(path) = &settings.logpath {
        let file = open_log_file(path, settings.logappend).map_err(|source| Error::Io {
            option: crate::config::table::LOGPATH.name,
            path: path.clone(),
            source,
        })?;
        // A second init (tests only) keeps the first file.
        let _ = LOG_FILE.set((path.clone(), Mutex::new(file)));
        builder.target(env_logger::Target::Pipe(Box::new(SharedFile)));
    }
    // A second init (only in tests) keeps the first logger.
    let _ = builder.try_init();
    Ok(())
}

/// The `--logpath` file, swappable for rotation.
static LOG_FILE: OnceLock<(PathBuf, Mutex<File>)> = OnceLock::new();

/// The logger's view of `LOG_FILE`.
struct SharedFile;

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match LOG_FILE.get() {
            Some((_, file)) => match file.lock() {
                Ok(mut f) => f.write(buf),
                Err(poisoned) => poisoned.into_inner().write(buf),
            },
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The logger's view of syslog: each record is one write, so one datagram.
struct SyslogTarget(Syslog);

impl Write for SyslogTarget {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let severity = SEVERITY.with(Cell::get);
        // A full daemon queue loses the line rather than stalling a loop.
        let _ = self.0.send(severity, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Rotates `--logpath` as mongod's logRotate does: the current file is
/// renamed to `<path>.<unix time>` and a new one opened. Returns the name
/// it was renamed to, or `None` when logging to stderr.
pub fn rotate() -> std::io::Result<Option<PathBuf>> {
    let Some((path, file)) = LOG_FILE.get() else {
        return Ok(None);
    };
    let mut current = match file.lock() {
        Ok(f) => f,
        Err(poisoned) => poisoned.into_inner(),
    };
    let aside = rename_aside(path)?;
    *current = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(Some(aside))
}

fn rename_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".{stamp}"));
    std::fs::rename(path, &aside)?;
    Ok(PathBuf::from(aside))
}

/// Opens the log file; without `append`, an existing file is renamed
/// aside with a timestamp first, as mongod does.
fn open_log_file(path: &Path, append: bool) -> std::io::Result<File> {
    if !append && path.exists() {
        rename_aside(path)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

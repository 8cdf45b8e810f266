//! mongod-style log lines: a timestamp, a severity, a context in brackets
//! (`[initandlisten]`, `[connN]`) and the message, to stderr or
//! `--logpath` (rotated aside like mongod's unless `--logappend`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::config::LogSettings;
use crate::error::Error;

/// Sets up the global logger; call once, before anything logs.
pub fn init(settings: &LogSettings) -> Result<(), Error> {
    let level = match settings.verbosity {
        i8::MIN..=-1 => log::LevelFilter::Warn,
        0 => log::LevelFilter::Info,
        1 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level).format(|buf, record| {
        let target = record.target();
        // Module paths mean start-up code; connection code names itself.
        let context = if target.starts_with("mongossl") {
            "initandlisten"
        } else {
            target
        };
        let severity = match record.level() {
            log::Level::Error => "E",
            log::Level::Warn => "W",
            log::Level::Info => "I",
            log::Level::Debug => "D",
            log::Level::Trace => "D2",
        };
        writeln!(
            buf,
            "{} {severity} [{context}] {}",
            buf.timestamp_millis(),
            record.args()
        )
    });
    if let Some(path) = &settings.logpath {
        let file = open_log_file(path, settings.logappend).map_err(|source| Error::Io {
            option: "logpath",
            path: path.clone(),
            source,
        })?;
        builder.target(env_logger::Target::Pipe(Box::new(file)));
    }
    // A second init (only in tests) keeps the first logger.
    let _ = builder.try_init();
    Ok(())
}

/// Opens the log file; without `append`, an existing file is renamed
/// aside with a timestamp first, as mongod does.
fn open_log_file(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    if !append && path.exists() {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".{stamp}"));
        std::fs::rename(path, aside)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

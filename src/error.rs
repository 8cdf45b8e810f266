//! The start-up errors of mongossl: each one a sentence an operator can act
//! on, naming the option or file and the cause, and the exit code mongod
//! would use for it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// mongod's exit code for bad options (`EXIT_BADOPTIONS`).
pub const EXIT_BAD_OPTIONS: u8 = 2;
/// mongod's exit code when it cannot listen (`EXIT_NET_ERROR`).
pub const EXIT_NET_ERROR: u8 = 48;
/// Any other failure before serving.
pub const EXIT_FAILURE: u8 = 1;

/// Everything that stops mongossl before it serves.
#[derive(Debug)]
pub enum Error {
    /// The command line or config file is wrong; the text says which option.
    Options(String),
    /// A file named by an option cannot be used.
    File {
        option: &'static str,
        path: PathBuf,
        cause: String,
    },
    /// A file could not be read at all.
    Io {
        option: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// OpenSSL refused a setting while building a TLS context.
    Tls {
        what: String,
        source: openssl::error::ErrorStack,
    },
    /// FIPS mode was asked for and could not be switched on. Boxed as any
    /// error because this module sits below the one that makes it; its
    /// text is already the whole sentence.
    Fips(Box<dyn std::error::Error + Send + Sync>),
    /// A listen address could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// The event loop itself failed (epoll could not be created, ...).
    Runtime { what: String, source: io::Error },
}

impl Error {
    /// The process exit code mongod would use for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Options(_) | Error::File { .. } | Error::Io { .. } => EXIT_BAD_OPTIONS,
            Error::Bind { .. } => EXIT_NET_ERROR,
            Error::Tls { .. } | Error::Fips(_) | Error::Runtime { .. } => EXIT_FAILURE,
        }
    }

    /// Shorthand for an options error.
    pub fn options(text: impl Into<String>) -> Error {
        Error::Options(text.into())
    }

    /// Shorthand for a file that is present but unusable.
    pub fn file(option: &'static str, path: impl Into<PathBuf>, cause: impl Into<String>) -> Error {
        Error::File {
            option,
            path: path.into(),
            cause: cause.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Options(text) => write!(f, "{text}"),
            Error::File {
                option,
                path,
                cause,
            } => write!(f, "--{option} {}: {cause}", path.display()),
            Error::Io {
                option,
                path,
                source,
            } => write!(f, "--{option} {}: cannot read: {source}", path.display()),
            Error::Tls { what, source } => write!(f, "{what}: {}", describe_openssl(source)),
            Error::Fips(e) => write!(f, "{e}"),
            Error::Bind { addr, source } => {
                write!(f, "listen(): bind() failed for {addr}: {source}")
            }
            Error::Runtime { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. }
            | Error::Bind { source, .. }
            | Error::Runtime { source, .. } => Some(source),
            Error::Tls { source, .. } => Some(source),
            Error::Fips(e) => Some(e.as_ref()),
            Error::Options(_) | Error::File { .. } => None,
        }
    }
}

/// OpenSSL's error stack as one short line: the reasons, without the
/// file/line noise of its `Display`.
pub fn describe_openssl(stack: &openssl::error::ErrorStack) -> String {
    let reasons: Vec<String> = stack
        .errors()
        .iter()
        .map(|e| e.reason().unwrap_or("unknown error").to_string())
        .collect();
    if reasons.is_empty() {
        "unknown OpenSSL error".to_string()
    } else {
        reasons.join("; ")
    }
}

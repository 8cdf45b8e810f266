//! Obtains the private-key password when `--sslPEMKeyPassword` was given
//! without a value, as mongod does: asked for on the terminal without echo,
//! or, for a service that has no terminal, read from the systemd credential
//! `sslPEMKeyPassword` in `$CREDENTIALS_DIRECTORY` (`LoadCredential=`).

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::Password;
use crate::error::Error;

/// The name of the systemd credential holding the password.
pub const CREDENTIAL: &str = "sslPEMKeyPassword";

/// What the terminal shows; mongod's words.
const PROMPT: &str = "Enter PEM passphrase: ";

/// Asks on the terminal if standard input is one, else reads the systemd
/// credential, else fails naming both ways to give the password. An empty
/// answer or credential means "no password": the installed service loads
/// an empty credential file for an unencrypted key, and an encrypted key
/// then fails with its own clear error.
///
/// Standard input decides, not whether `/dev/tty` opens: a process started
/// from a shell in the background (`mongossl ... </dev/null &`) still has a
/// controlling terminal, and reading it would stop the process (SIGTTIN)
/// instead of failing clearly.
pub fn obtain() -> Result<Option<Password>, Error> {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
        return prompt();
    }
    // An empty value is treated as unset, as systemd never sets one.
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty());
    from_credentials(dir.as_deref())
}

/// Reads the credential from `dir` (the value of `$CREDENTIALS_DIRECTORY`).
pub fn from_credentials(dir: Option<&OsStr>) -> Result<Option<Password>, Error> {
    let Some(dir) = dir else {
        return Err(Error::options(format!(
            "--sslPEMKeyPassword was given without a value, but standard input is not a terminal to ask on \
             and $CREDENTIALS_DIRECTORY is not set (systemd: LoadCredential={CREDENTIAL}:FILE); \
             give the password as --sslPEMKeyPassword=PASS"
        )));
    };
    let path = Path::new(dir).join(CREDENTIAL);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::file(
            "sslPEMKeyPassword",
            &path,
            format!("cannot read the systemd credential ({e}); there is no terminal to ask on"),
        )
    })?;
    Ok(non_empty(without_line_end(&text)))
}

fn non_empty(password: &str) -> Option<Password> {
    (!password.is_empty()).then(|| Password::new(password.to_string()))
}

/// Credential files and typed lines end with a newline that is not part of
/// the password; only that one is removed (a password may end in spaces).
fn without_line_end(text: &str) -> &str {
    text.strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text)
}

/// Puts the terminal's settings back when dropped, whatever happened while
/// echo was off.
struct EchoOff<'a> {
    tty: &'a File,
    saved: libc::termios,
}

impl<'a> EchoOff<'a> {
    fn new(tty: &'a File) -> std::io::Result<EchoOff<'a>> {
        let fd = tty.as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it in or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open for the life of `tty`; `saved` is writable.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut quiet = saved;
        // No echo, but still the newline, so the next output starts on a
        // line of its own.
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: as above; `quiet` is a valid termios copied from the tty.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(EchoOff { tty, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new` on the same open fd.
        unsafe { libc::tcsetattr(self.tty.as_raw_fd(), libc::TCSANOW, &self.saved) };
    }
}

/// Prompts on the controlling terminal and reads one line without echo.
fn prompt() -> Result<Option<Password>, Error> {
    let failed = |e: std::io::Error| {
        Error::options(format!(
            "--sslPEMKeyPassword: cannot ask on the terminal: {e}"
        ))
    };
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(failed)?;
    let mut line = String::new();
    {
        let _echo_off = EchoOff::new(&tty).map_err(failed)?;
        (&tty).write_all(PROMPT.as_bytes()).map_err(failed)?;
        BufReader::new(&tty).read_line(&mut line).map_err(failed)?;
    }
    Ok(non_empty(without_line_end(&line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_end_is_removed() {
        assert_eq!(without_line_end("s3cret\n"), "s3cret");
        assert_eq!(without_line_end("s3cret\r\n"), "s3cret");
        assert_eq!(without_line_end("s3cret "), "s3cret ");
        assert_eq!(without_line_end("s3cret"), "s3cret");
        assert_eq!(without_line_end("two\n\n"), "two\n");
    }

    #[test]
    fn credential_is_read_from_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(CREDENTIAL), "pass word\n").expect("write");
        let password = from_credentials(Some(dir.path().as_os_str())).expect("read");
        assert_eq!(
            password.as_ref().map(Password::as_bytes),
            Some(&b"pass word"[..])
        );
    }

    #[test]
    fn missing_credential_is_an_error_and_empty_means_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = from_credentials(Some(dir.path().as_os_str())).expect_err("missing");
        assert!(
            err.to_string()
                .contains("cannot read the systemd credential"),
            "{err}"
        );
        std::fs::write(dir.path().join(CREDENTIAL), "\n").expect("write");
        let none = from_credentials(Some(dir.path().as_os_str())).expect("empty");
        assert!(none.is_none());
        let err = from_credentials(None).expect_err("no directory");
        assert!(err.to_string().contains("CREDENTIALS_DIRECTORY"), "{err}");
    }
}

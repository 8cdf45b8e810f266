//! The `mongossl` binary: parse the options, then serve; every start-up
//! error becomes one clear line and mongod's exit code.

use std::process::ExitCode;

use mongossl::config::{self, Command};
use mongossl::{fips, ops};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "check") {
        return ExitCode::from(mongossl::check::run(&args[1..]));
    }
    let command = match config::from_args(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("mongossl: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let config = match command {
        Command::Help => {
            print_stdout(&config::options::usage());
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            print_stdout(&format!(
                "mongossl {}\n{}",
                env!("CARGO_PKG_VERSION"),
                fips::version_report()
            ));
            return ExitCode::SUCCESS;
        }
        Command::Serve(config) => config,
    };
    if let Err(e) = ops::log::init(&config.log) {
        eprintln!("mongossl: {e}");
        return ExitCode::from(e.exit_code());
    }
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    match mongossl::serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            if config.log.logpath.is_some() {
                eprintln!("mongossl: {e}");
            }
            log::error!("dbexit: exiting with code {}", e.exit_code());
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints to stdout; a closed pipe (`mongossl --help | head`) is not an
/// error worth a panic.
fn print_stdout(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

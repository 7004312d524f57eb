//! `strom`: parse flags, load the configuration, run the server.

use clap::Parser;
use strom::{cli::Cli, config, logging, server};

/// Exit code for configuration errors, so supervisors can tell them from crashes.
const EXIT_CONFIG: i32 = 2;

fn main() {
    let cli = Cli::parse();
    let config = match config::load(&cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strom: {e}");
            std::process::exit(EXIT_CONFIG);
        }
    };
    if cli.print_config {
        print!("{}", config.to_toml());
        return;
    }
    let _logs = logging::init(&config.log);
    let options = server::RunOptions {
        test_hooks: cli.test_hooks,
    };
    if let Err(e) = server::run(config, options, server::termination_signal) {
        tracing::error!(error = %e, "strom cannot run");
        eprintln!("strom: {e}");
        drop(_logs);
        std::process::exit(1);
    }
}

//! `strom`: parse flags, load the configuration, bind, run the server.

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
    let run = server::Listeners::bind(&config)
        .and_then(|listeners| server::run(listeners, config, options, server::termination_signal));
    if let Err(e) = run {
        tracing::error!(error = %e, "strom cannot run");
        eprintln!("strom: {e}");
        drop(_logs);
        std::process::exit(1);
    }
}

//! `allot`: the one binary. Subcommands run the same processors over the embedded in-memory
//! bus (`demo`), over files (`replay`) or over Kafka (`run`).

use std::process::ExitCode;

use allot_pipeline::cli::{Cli, execute};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    allot_pipeline::cli::init_logging(cli.verbose);
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

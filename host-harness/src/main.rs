//! `gladly-harness`: call the Gladly connector component from the command
//! line, run a Gladly sandbox, serve the SCIM 2.0 gateway (`scim`), or
//! watch a whole lifecycle in the demo.
//!
//! Exit codes: 0 success (a lookup that finds nothing prints `null`), 1 a
//! host failure (the component could not be loaded, trapped, or ran out of
//! time), 2 a usage error or a bad input file, 3 a domain error from the
//! connector (its case name and a sentence go to stderr); `apply` and
//! `reconcile` add 4 (some changes failed), 5 (stopped early) and 6
//! (refused); see `reconcile.rs`.

mod args;
mod commands;
mod demo;
mod demo_scim;
mod reconcile;

use std::process::ExitCode;

use clap::Parser as _;

use args::Cli;

const EXIT_HOST: u8 = 1;
const EXIT_DOMAIN: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_HOST);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // Its words may quote a file name or a server's: shown escaped.
            eprintln!(
                "error: {}",
                gladly_harness::output::printable(&format!("{e:#}"))
            );
            ExitCode::from(EXIT_HOST)
        }
    }
}

//! portals-load: a load generator for signalling servers that speak the base
//! `@openlab/portals` wire format (this one, or the JavaScript original).
//!
//! It opens many WebSockets spread over rooms, has members relay realistic `description` and
//! `candidate` messages to each other, and measures what the server did with them: how many it
//! relayed per second, how long each took from sender to receiver, and what was lost. Every
//! run is bounded in time and size and talks to loopback only.

mod args;
mod page;
mod payload;
mod report;
mod run;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("portals-load: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(args)) {
        Ok(report) => {
            report.print();
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("portals-load: {error}");
            ExitCode::FAILURE
        }
    }
}

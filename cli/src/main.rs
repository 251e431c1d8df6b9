//! The `ccaas` command line: offline reports, task calls against the API, and publishing a
//! build's notes and sources.

mod build;
mod files;
mod report;
mod task;

use clap::{Parser, Subcommand};

/// Code Coverage as a Service.
#[derive(Debug, Parser)]
#[command(name = "ccaas", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build coverage reports from the .gcno/.gcda files under build directories.
    Report(report::ReportArgs),
    /// Start and end coverage sessions and follow tasks through the ccaas API.
    Task(Box<task::TaskArgs>),
    /// Publish a build's notes (.gcno) and sources for devices that keep no .gcno.
    Build(build::BuildArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Report(args) => report::run(args),
        Command::Task(args) => task::run(*args),
        Command::Build(args) => build::run(args),
    };
    std::process::exit(code);
}

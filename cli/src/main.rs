//! The `ccaas` command line: offline reports, task calls against the API, the usage history,
//! test impact of a changelist, the compare of two sessions, and publishing a build's notes and sources.

mod build;
mod compare;
mod files;
mod impact;
mod report;
mod task;
mod usage;

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
    /// The usage history: tasks per user, device, type or status per day or week.
    Usage(usage::UsageArgs),
    /// Test impact of a changelist: which sessions ran the lines a diff changes.
    Impact(impact::ImpactArgs),
    /// Compare two sessions: the lines the head newly covered and lost against the base.
    Compare(compare::CompareArgs),
    /// Merge several end tasks' reports of one build into one report (counts summed).
    Merge(Box<task::MergeArgs>),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Report(args) => report::run(args),
        Command::Task(args) => task::run(*args),
        Command::Build(args) => build::run(args),
        Command::Usage(args) => usage::run(args),
        Command::Impact(args) => impact::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Merge(args) => task::run_merge(*args),
    };
    std::process::exit(code);
}

//! The `ccaas` command line: offline reports and task calls against the API.

fn main() {
    eprintln!("ccaas: no command yet");
    std::process::exit(2);
}

//! The `leaven` command: a thin layer over the library.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "leaven", version, about = "Container builds for web apps, on BuildKit")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run as a BuildKit frontend on stdio (what the frontend image does).
    Frontend,
    /// Check a spec and print what a target builds.
    Check {
        spec: std::path::PathBuf,
        #[arg(long)]
        target: Option<String>,
        /// KEY=VALUE, as with docker build.
        #[arg(long = "build-arg", value_parser = parse_build_arg)]
        build_args: Vec<(String, String)>,
    },
}

fn parse_build_arg(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("\"{text}\" is not KEY=VALUE"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Frontend) {
        Command::Frontend => ExitCode::from(leaven::frontend::main_stdio() as u8),
        Command::Check { spec, target, build_args } => {
            let args: BTreeMap<String, String> = build_args.into_iter().collect();
            match leaven::cli::check(&spec, target.as_deref(), &args) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("{message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

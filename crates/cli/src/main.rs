//! `xodvox`: command-line renderer and benchmark for the XodVox phase vocoder.
//!
//! Every failure is one `error: ...` line on stderr and an exit code from [`errors::ExitKind`].

mod args;
mod audio_io;
mod bench;
mod bench_neural;
mod bench_realtime;
mod dataset_cmd;
mod decode;
mod errors;
mod eval_cmd;
mod flac_out;
mod interrupt;
mod neural;
mod pending;
mod rate_stream;
mod render;
mod signal;
mod stream_render;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::errors::ExitKind;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help / --version: print normally, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's first paragraph ("error: ..." plus, for missing arguments, their
            // names on the next lines), joined; the usage block after it is dropped.
            let rendered = e.to_string();
            let first: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("{} (see `xodvox --help`)", first.join(" "));
            return ExitCode::from(ExitKind::Usage.code());
        }
    };
    let result = match &cli.command {
        Command::Render(args) => render::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Dataset(args) => dataset_cmd::run(args),
        Command::Eval(args) => eval_cmd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.kind.code())
        }
    }
}

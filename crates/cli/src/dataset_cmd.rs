//! `xodvox dataset build|stats|merge`: training pairs (input clip, controls, reference target)
//! made with SoX and Rubber Band. The work is done by the `xodvox-dataset` library; this file is
//! the command-line glue (arguments, messages, exit codes).

use std::path::PathBuf;

use anyhow::Context;
use xodvox_dataset::{
    build, dataset_stats, merge_shards, probe, BuildOptions, BuildSummary, DatasetConfig,
    DatasetError, Progress, Shard, Stage, ToolKind,
};

use crate::errors::{CliError, ExitKind, Tag};

/// Arguments of `xodvox dataset`.
#[derive(Debug, clap::Args)]
pub struct DatasetArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DatasetCommand,
}

/// The `dataset` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DatasetCommand {
    /// Build (or resume) a dataset: clips from --input, targets from SoX/Rubber Band, manifest.jsonl.
    #[command(
        long_about = "Build (or resume) a dataset of (input clip, target) pairs.\n\n\
Scans --input recursively for WAV/FLAC/OGG files, converts them to 48 kHz stereo (sox rate -v), cuts \
clips (skipping near-silent ones), draws a stretch (duration ratio) and a pitch shift (semitones) and \
a style per pair, and makes each target with that style's reference tool: rb-fine (rubberband -3), \
rb-crisp (rubberband -2 --crisp N), rb-formant (rubberband -3 --formant), sox (sox tempo 1/stretch, \
pitch 100*semitones). Writes OUT/manifest.jsonl (docs/dataset-manifest.md), split train/val/test by \
source file (or corpus.jsonl group), deterministic from the seed.\n\n\
Resumable: re-running continues an interrupted build and does nothing for a finished one. Inputs are \
never modified. A file that cannot be read or a generator that fails is skipped and listed at the \
end (exit code 0 when at least one pair was made)."
    )]
    Build(BuildArgs),
    /// Print the dataset card: counts, hours, control and style distributions per split, licences.
    Stats(StatsArgs),
    /// Merge the shard manifests (OUT/shards/*.jsonl) of `build --shard i/N` runs into OUT/manifest.jsonl.
    Merge(MergeArgs),
}

/// Arguments of `xodvox dataset build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Folder scanned recursively for WAV, FLAC and OGG files (read only).
    #[arg(long, value_name = "DIR")]
    pub input: PathBuf,
    /// Dataset folder (created; an earlier build there is resumed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// dataset.toml (clip length, silence threshold, control ranges, styles, seed, split);
    /// defaults are documented in docs/dataset.md.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Build only shard I of N (0 <= I < N), e.g. `--shard $SLURM_ARRAY_TASK_ID/8`; writes
    /// OUT/shards/shard-I-of-N.jsonl. Merge with `xodvox dataset merge OUT`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Stop after starting this many new generator runs, without writing the manifest (a partial
    /// run; re-run without it to finish).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// No progress bar and no summary (skipped items are still listed).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `xodvox dataset stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Dataset folder (holding manifest.jsonl) or a manifest file.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Arguments of `xodvox dataset merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Dataset folder whose shards/ holds every shard manifest.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Exit category of a library error.
fn kind_of(e: &DatasetError) -> ExitKind {
    match e {
        DatasetError::ConfigFile { .. }
        | DatasetError::InvalidConfig(_)
        | DatasetError::Shard(_)
        | DatasetError::ConfigMismatch { .. } => ExitKind::Usage,
        DatasetError::NoInput(_) | DatasetError::Manifest { .. } | DatasetError::Audio { .. } => {
            ExitKind::Input
        }
        DatasetError::Io { .. } => ExitKind::Output,
        DatasetError::ToolMissing { .. } => ExitKind::Other,
    }
}

fn lib_err(e: DatasetError) -> CliError {
    CliError {
        kind: kind_of(&e),
        error: e.into(),
    }
}

/// Runs `xodvox dataset ...`.
///
/// # Errors
/// A [`CliError`] whose kind gives the exit code.
pub fn run(args: &DatasetArgs) -> Result<(), CliError> {
    match &args.command {
        DatasetCommand::Build(a) => run_build(a),
        DatasetCommand::Stats(a) => {
            let stats = dataset_stats(&a.dir).map_err(lib_err)?;
            print!("{stats}");
            Ok(())
        }
        DatasetCommand::Merge(a) => {
            let (path, rows) = merge_shards(&a.dir).map_err(lib_err)?;
            eprintln!("merged {rows} rows into {}", path.display());
            Ok(())
        }
    }
}

fn run_build(a: &BuildArgs) -> Result<(), CliError> {
    let config = match &a.config {
        Some(path) => DatasetConfig::from_file(path).map_err(lib_err)?,
        None => DatasetConfig::default(),
    };
    let shard = a
        .shard
        .as_deref()
        .map(str::parse::<Shard>)
        .transpose()
        .map_err(lib_err)?;
    // Tools first, so a missing one is reported before any work.
    check_tools(&config, a.quiet)?;
    let opts = BuildOptions {
        input: a.input.clone(),
        out: a.out.clone(),
        config,
        shard,
        limit: a.limit,
        jobs: a.jobs.map(usize::from),
    };
    let bars = StageBars::new(!a.quiet);
    let summary = build(&opts, &|p| bars.show(p)).map_err(lib_err)?;
    for s in &summary.skipped {
        eprintln!("skipped: {}: {}", s.file, s.reason);
    }
    if !a.quiet {
        print_summary(&summary);
    }
    match (&summary.manifest, summary.stopped_by_limit) {
        (_, true) => {
            eprintln!(
                "stopped after --limit {}: re-run without --limit to finish",
                a.limit.unwrap_or(0)
            );
            Ok(())
        }
        (Some(path), false) => {
            if !a.quiet {
                eprintln!(
                    "manifest: {} ({} rows, {})",
                    path.display(),
                    summary.rows,
                    if summary.manifest_written {
                        "written"
                    } else {
                        "unchanged"
                    }
                );
            }
            if summary.rows == 0 && summary.pairs_planned > 0 {
                return Err(CliError::new(
                    ExitKind::Other,
                    format!(
                        "no pair could be made ({} skipped, see above)",
                        summary.skipped.len()
                    ),
                ));
            }
            Ok(())
        }
        (None, false) => Err(anyhow::anyhow!("no manifest was written"))
            .context(a.out.display().to_string())
            .tag(ExitKind::Other),
    }
}

/// Probes SoX (required) and Rubber Band (needed by the rb-* styles only: without it those
/// pairs are skipped, with a warning) and prints their versions.
fn check_tools(config: &DatasetConfig, quiet: bool) -> Result<(), CliError> {
    let sox = probe(ToolKind::Sox).map_err(lib_err)?;
    let rb = probe(ToolKind::Rubberband);
    if !quiet {
        match &rb {
            Ok(rb) => eprintln!("tools: sox {}, rubberband {}", sox.version, rb.version),
            Err(_) => eprintln!("tools: sox {}", sox.version),
        }
    }
    if let Err(e) = &rb {
        if config
            .styles
            .iter()
            .any(|s| s.tool() == ToolKind::Rubberband)
        {
            eprintln!("warning: {e}; pairs of the rb-* styles will be skipped");
        }
    }
    Ok(())
}

/// Prints the counts of a finished build.
fn print_summary(summary: &BuildSummary) {
    eprintln!(
        "sources: {} found, {} in this run ({} converted now); clips: {} ({} near-silent dropped); \
         pairs: {} planned, {} made now, {} done before; {} skipped; {:.1} s",
        summary.sources_found,
        summary.sources,
        summary.sources_converted,
        summary.clips,
        summary.clips_silent,
        summary.pairs_planned,
        summary.pairs_made,
        summary.pairs_reused,
        summary.skipped.len(),
        summary.elapsed.as_secs_f64()
    );
}

/// The progress bars of `xodvox dataset build`, one per stage (drawn on a terminal only).
struct StageBars {
    sources: indicatif::ProgressBar,
    pairs: indicatif::ProgressBar,
}

impl StageBars {
    fn new(show: bool) -> Self {
        let bar = |what: &str| {
            if !show {
                return indicatif::ProgressBar::hidden();
            }
            let bar = indicatif::ProgressBar::no_length();
            let template = format!(
                "{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {what} · ETA {{eta_precise}}"
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        };
        StageBars {
            sources: bar("sources"),
            pairs: bar("pairs"),
        }
    }

    /// Called by the build from its worker threads.
    fn show(&self, p: Progress) {
        let bar = match p.stage {
            Stage::Sources => &self.sources,
            Stage::Pairs => &self.pairs,
        };
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        if p.done == p.total {
            bar.finish_and_clear();
        }
    }
}

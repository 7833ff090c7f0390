//! `xodvox-clap-host`: a small command-line CLAP host (clack-host), for tests of CLAP
//! plugins without a DAW.
//!
//! * `info PLUGIN.clap` prints the plugin's descriptor, parameters, audio ports,
//!   audio-ports configurations and the latency it reports once activated, as JSON.
//! * `render PLUGIN.clap --in IN.wav --out OUT.wav` processes a WAV file through the plugin
//!   in blocks (fixed or random sizes), with parameters set by name, optionally loading a
//!   state first and saving the state afterwards, optionally at another sample rate than
//!   the file's and skipping calls while the plugin sleeps; prints what happened as JSON
//!   (with the process statuses and constant outputs the plugin reported).
//!
//! Nothing in it knows about a particular plugin.

mod host;
mod plugin;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clack_extensions::params::ParamInfoFlags;
use clap::{Parser, Subcommand, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::plugin::{callbacks_json, load_entry, Param, Plugin};

/// Command line.
#[derive(Parser)]
#[command(
    version,
    about = "A small command-line CLAP host: plugin info and WAV rendering"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the plugin's descriptor, parameters, audio ports and latency as JSON.
    Info(InfoArgs),
    /// Renders a WAV file through the plugin and prints what happened as JSON.
    Render(RenderArgs),
}

/// Arguments of `info`.
#[derive(clap::Args)]
struct InfoArgs {
    /// The `.clap` library.
    plugin: PathBuf,
    /// Plugin ID within the library (default: its first plugin).
    #[arg(long)]
    plugin_id: Option<String>,
    /// Sample rate to activate at, for the latency.
    #[arg(long, default_value_t = 48_000.0)]
    sample_rate: f64,
    /// Largest block size announced at activation.
    #[arg(long, default_value_t = 512)]
    block: u32,
    /// Channel count of the main ports (selects an audio-ports configuration if needed).
    #[arg(long)]
    channels: Option<u32>,
}

/// How `render` hands the `--param` values to the plugin.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ParamsVia {
    /// `params.flush` while the plugin is inactive, before activation.
    Flush,
    /// Parameter value events at time 0 of the first `process` call.
    Events,
}

/// The render mode `render` asks for (the render extension).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Leave the plugin in its default mode (realtime); the render extension is not used.
    Realtime,
    /// `render.set(CLAP_RENDER_OFFLINE)` before activation: no realtime pressure.
    Offline,
}

/// Arguments of `render`.
#[derive(clap::Args)]
struct RenderArgs {
    /// The `.clap` library.
    plugin: PathBuf,
    /// Plugin ID within the library (default: its first plugin).
    #[arg(long)]
    plugin_id: Option<String>,
    /// Input WAV (any channel count the plugin's ports accept; int or float samples).
    #[arg(long = "in")]
    input: PathBuf,
    /// Output WAV (32-bit float, the main output port, as long as the input).
    #[arg(long = "out")]
    output: PathBuf,
    /// Block size; with `--random-blocks`, the largest block.
    #[arg(long, default_value_t = 512)]
    block: u32,
    /// Random block sizes from 1 to `--block`, from this seed.
    #[arg(long, value_name = "SEED")]
    random_blocks: Option<u64>,
    /// A parameter's plain value by name (case-insensitive) or ID; the value is a number
    /// or a text the plugin parses (e.g. an enum's name). Repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// A parameter's value as a text the plugin parses (`text_to_value`): `Pitch=12` where
    /// the plugin shows "12.00 st", whatever its CLAP value range. Repeatable; applied after
    /// `--param`.
    #[arg(long = "param-text", value_name = "NAME=TEXT")]
    param_texts: Vec<String>,
    /// How the `--param` and `--param-text` values reach the plugin.
    #[arg(long, value_enum, default_value_t = ParamsVia::Flush)]
    params_via: ParamsVia,
    /// Render mode: `offline` asks the plugin (render extension) for offline rendering.
    #[arg(long, value_enum, default_value_t = Mode::Realtime)]
    render_mode: Mode,
    /// Load this state (the state extension) before setting parameters and activating.
    #[arg(long)]
    state_in: Option<PathBuf>,
    /// Save the state after processing.
    #[arg(long)]
    state_out: Option<PathBuf>,
    /// Activate at this sample rate (Hz, fractional allowed) instead of the WAV file's.
    #[arg(long)]
    sample_rate: Option<f64>,
    /// Skip `process` calls while the plugin sleeps (it returned `CLAP_PROCESS_SLEEP`) and
    /// the input stays silent, as a DAW does with idle tracks.
    #[arg(long)]
    honour_sleep: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let out = match cli.command {
        Command::Info(args) => info(&args)?,
        Command::Render(args) => render(&args)?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// The parameters with their current values, as JSON.
fn params_json(plugin: &mut Plugin) -> Vec<Value> {
    plugin
        .params()
        .into_iter()
        .map(|p| {
            let value = plugin.param_value(p.id);
            let value_text = value.and_then(|v| plugin.value_text(p.id, v));
            let default_text = plugin.value_text(p.id, p.default);
            let min_text = plugin.value_text(p.id, p.min);
            let max_text = plugin.value_text(p.id, p.max);
            // A stepped parameter's text for each step (its enum names, say), up to 128 steps.
            let stepped = p.flags.contains(ParamInfoFlags::IS_STEPPED);
            let steps = p.max - p.min;
            let step_texts: Option<Vec<Option<String>>> =
                (stepped && p.min.fract() == 0.0 && (0.0..=128.0).contains(&steps)).then(|| {
                    (0..=steps as u32)
                        .map(|i| plugin.value_text(p.id, p.min + f64::from(i)))
                        .collect()
                });
            json!({
                "id": p.id.get(),
                "name": p.name,
                "module": p.module,
                "min": p.min,
                "max": p.max,
                "default": p.default,
                "default_text": default_text,
                "min_text": min_text,
                "max_text": max_text,
                "step_texts": step_texts,
                "value": value,
                "value_text": value_text,
                "flags": p.flag_names(),
            })
        })
        .collect()
}

fn ports_json(plugin: &mut Plugin) -> Value {
    let inputs: Vec<Value> = plugin.ports(true).iter().map(|p| p.json()).collect();
    let outputs: Vec<Value> = plugin.ports(false).iter().map(|p| p.json()).collect();
    json!({ "inputs": inputs, "outputs": outputs })
}

fn info(args: &InfoArgs) -> Result<Value> {
    let (entry, descriptor) = load_entry(&args.plugin, args.plugin_id.as_deref())?;
    let mut plugin = Plugin::new(&entry, &descriptor)?;
    let ports_default = ports_json(&mut plugin);
    let configs = plugin.port_configs();
    let selected = match args.channels {
        Some(c) => plugin.use_channels(c)?,
        None => None,
    };
    let params = params_json(&mut plugin);
    let ports = ports_json(&mut plugin);
    let latency_inactive = plugin.latency();
    let processor = plugin.activate(args.sample_rate, args.block)?;
    let latency = plugin.latency();
    plugin.instance.deactivate(processor);
    plugin.pump();
    Ok(json!({
        "plugin": descriptor.json,
        "extensions": plugin.ext.names(),
        "params": params,
        "audio_ports_default": ports_default,
        "audio_ports_configs": configs,
        "audio_ports_config_selected": selected,
        "audio_ports": ports,
        "sample_rate": args.sample_rate,
        "latency_inactive": latency_inactive,
        "latency": latency,
        "callbacks": callbacks_json(&plugin.instance),
        "restarts": plugin.restarts,
    }))
}

/// A WAV file's samples, one `Vec` per channel, and its sample rate.
fn read_wav(path: &Path) -> Result<(Vec<Vec<f32>>, u32)> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = reader.spec();
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    let channels = usize::from(spec.channels);
    if channels == 0 {
        bail!("{}: no channels", path.display());
    }
    let mut out = vec![Vec::with_capacity(interleaved.len() / channels); channels];
    for frame in interleaved.chunks_exact(channels) {
        for (c, s) in frame.iter().enumerate() {
            out[c].push(*s);
        }
    }
    Ok((out, spec.sample_rate))
}

/// Writes channels as a 32-bit float WAV file.
fn write_wav(path: &Path, channels: &[Vec<f32>], sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: u16::try_from(channels.len())?,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("writing {}", path.display()))?;
    let frames = channels.first().map_or(0, Vec::len);
    for i in 0..frames {
        for c in channels {
            writer.write_sample(c[i])?;
        }
    }
    writer.finalize()?;
    Ok(())
}

/// Block sizes covering `frames`: all `block` long (the last one shorter), or random sizes
/// from 1 to `block` drawn from `seed`.
fn block_sizes(frames: usize, block: usize, seed: Option<u64>) -> Vec<usize> {
    let mut rng = seed.map(ChaCha8Rng::seed_from_u64);
    let mut out = Vec::new();
    let mut left = frames;
    while left > 0 {
        let n = match &mut rng {
            Some(rng) => rng.random_range(1..=block),
            None => block,
        };
        let n = n.min(left);
        out.push(n);
        left -= n;
    }
    out
}

fn render(args: &RenderArgs) -> Result<Value> {
    if args.block == 0 {
        bail!("--block must be at least 1");
    }
    let (input, sample_rate) = read_wav(&args.input)?;
    let channels = u32::try_from(input.len())?;
    let frames = input[0].len();
    let (entry, descriptor) = load_entry(&args.plugin, args.plugin_id.as_deref())?;
    let mut plugin = Plugin::new(&entry, &descriptor)?;

    let state_in_bytes = load_state_in(&mut plugin, args)?;
    let selected = plugin.use_channels(channels)?;
    let settings = apply_settings(&mut plugin, args)?;

    if args.render_mode == Mode::Offline {
        plugin.set_render_mode(true)?;
    }

    let blocks = block_sizes(frames, args.block as usize, args.random_blocks);
    let max_block = blocks.iter().copied().max().unwrap_or(1);
    let rate = args.sample_rate.unwrap_or(f64::from(sample_rate));
    let processor = plugin.activate(rate, u32::try_from(max_block)?)?;
    let latency = plugin.latency();
    let events = match args.params_via {
        ParamsVia::Events => settings.clone(),
        ParamsVia::Flush => Vec::new(),
    };
    let (processor, output, report) =
        plugin.process(processor, &input, &blocks, &events, args.honour_sleep)?;
    let latency_after = plugin.latency();
    plugin.instance.deactivate(processor);
    plugin.pump();
    write_wav(&args.output, &output, sample_rate)?;

    let state_out_bytes = save_state_out(&mut plugin, args)?;
    let set: Vec<Value> = settings
        .iter()
        .map(|(p, v)| json!({ "name": p.name, "id": p.id.get(), "value": v }))
        .collect();
    Ok(json!({
        "plugin": descriptor.json,
        "sample_rate": sample_rate,
        "activated_at": rate,
        "channels": channels,
        "frames": frames,
        "output_channels": output.len(),
        "blocks": blocks.len(),
        "block_min": blocks.iter().min(),
        "block_max": max_block,
        "render_mode": match args.render_mode { Mode::Realtime => "realtime", Mode::Offline => "offline" },
        "params_via": match args.params_via { ParamsVia::Flush => "flush", ParamsVia::Events => "events" },
        "params_set": set,
        "params": params_json(&mut plugin),
        "audio_ports_config_selected": selected,
        "latency": latency,
        "latency_after": latency_after,
        "state_in_bytes": state_in_bytes,
        "state_out_bytes": state_out_bytes,
        "callbacks": callbacks_json(&plugin.instance),
        "restarts": plugin.restarts,
        "process": report.json(),
        "output": args.output,
    }))
}

/// Loads `--state-in` into the plugin, if given; returns its size in bytes.
fn load_state_in(plugin: &mut Plugin, args: &RenderArgs) -> Result<Option<usize>> {
    let Some(path) = &args.state_in else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    plugin
        .load_state(&bytes)
        .with_context(|| format!("loading state {}", path.display()))?;
    plugin.pump();
    Ok(Some(bytes.len()))
}

/// The `--param` and `--param-text` settings as (parameter, plain value); with
/// `--params-via flush` they are flushed to the plugin now.
fn apply_settings(plugin: &mut Plugin, args: &RenderArgs) -> Result<Vec<(Param, f64)>> {
    let mut settings = plugin.param_values(&args.params, false)?;
    settings.extend(plugin.param_values(&args.param_texts, true)?);
    if args.params_via == ParamsVia::Flush && !settings.is_empty() {
        plugin.flush_params(&settings)?;
        plugin.pump();
    }
    Ok(settings)
}

/// Saves the plugin's state into `--state-out`, if given; returns its size in bytes.
fn save_state_out(plugin: &mut Plugin, args: &RenderArgs) -> Result<Option<usize>> {
    let Some(path) = &args.state_out else {
        return Ok(None);
    };
    let bytes = plugin.save_state()?;
    std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_input() {
        assert_eq!(block_sizes(10, 4, None), vec![4, 4, 2]);
        assert!(block_sizes(0, 4, None).is_empty());
        let random = block_sizes(10_000, 300, Some(7));
        assert_eq!(random.iter().sum::<usize>(), 10_000);
        assert!(random.iter().all(|&n| (1..=300).contains(&n)));
        assert_eq!(random, block_sizes(10_000, 300, Some(7)));
        assert_ne!(random, block_sizes(10_000, 300, Some(8)));
    }

    #[test]
    fn wav_round_trip() {
        let dir = std::env::temp_dir().join(format!("clap-host-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.wav");
        let x = vec![vec![0.0, 0.5, -1.0], vec![0.25, -0.25, 1.0]];
        write_wav(&path, &x, 44_100).unwrap();
        let (y, sr) = read_wav(&path).unwrap();
        assert_eq!(sr, 44_100);
        assert_eq!(x, y);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

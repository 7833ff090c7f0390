//! Speed, latency and memory of every engine, measured in one run on one signal: real-time
//! factor of whole-clip processing, per-block timing of the streaming call (XodVox's
//! `Stretcher::process`, Signalsmith's `process`), latency in samples and peak memory.

use std::time::Instant;

use serde::Serialize;

use crate::engines::Engine;
use crate::set::{builtin_set, SetOptions, Task, SAMPLE_RATE};

/// Tasks timed by the bench (the same as `xodvox bench`).
pub const BENCH_TASKS: [Task; 2] = [Task::stretch(1.5), Task::pitch(3.0)];

/// Block size of the per-hop timing, in samples (one synthesis hop of XodVox).
pub const BENCH_BLOCK: usize = 512;

/// One engine's speed figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    /// Engine key.
    pub engine: String,
    /// Engine label.
    pub label: String,
    /// Seconds of audio per second of processing, per bench task (`None` if it failed).
    pub realtime_factor: Vec<Option<f64>>,
    /// Median per-block time of the streaming call in µs (`None`: no streaming API here).
    pub hop_p50_us: Option<f64>,
    /// 99th percentile per-block time in µs.
    pub hop_p99_us: Option<f64>,
    /// Slowest block in µs.
    pub hop_max_us: Option<f64>,
    /// Real-time budget of one block in µs (block / sample rate).
    pub hop_budget_us: f64,
    /// Latency of the streaming use in samples (`None`: offline tool).
    pub latency_samples: Option<usize>,
    /// Peak memory in bytes over the timed renders.
    pub peak_memory_bytes: Option<u64>,
    /// Remarks (how memory and time were measured, failures).
    pub note: String,
}

/// The bench signal: the built-in set's chord, melody and drum kit mixed, `seconds` long,
/// 48 kHz mono.
pub fn bench_signal(seconds: f64) -> Vec<f32> {
    let set = builtin_set(&SetOptions {
        seconds: seconds.max(0.5),
        espeak: None,
        midi: None,
    })
    .expect("valid length");
    let mut mix = vec![0.0f32; set.clips[0].audio.len()];
    for clip in set
        .clips
        .iter()
        .filter(|c| ["poly-chord", "mono-melody", "drums-kit"].contains(&c.id.as_str()))
    {
        for (m, v) in mix.iter_mut().zip(&clip.audio) {
            *m += 0.6 * v;
        }
    }
    mix
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

/// Benchmarks `engines` on a `seconds`-long [`bench_signal`]. `progress(done, total, what)`
/// is called after each engine.
pub fn bench_engines(
    engines: &[Engine],
    seconds: f64,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Vec<BenchRow> {
    let signal = bench_signal(seconds);
    let audio_seconds = signal.len() as f64 / f64::from(SAMPLE_RATE);
    let mut rows = Vec::new();
    for (i, engine) in engines.iter().enumerate() {
        let mut notes = Vec::new();
        let mut peak = None::<u64>;
        let mut rtf = Vec::new();
        for task in BENCH_TASKS {
            match engine.render(&signal, SAMPLE_RATE, task) {
                Ok(r) => {
                    rtf.push(Some(audio_seconds / r.seconds.max(1e-9)));
                    if let Some(p) = r.peak_memory_bytes {
                        peak = Some(peak.map_or(p, |q| q.max(p)));
                    }
                }
                Err(e) => {
                    rtf.push(None);
                    notes.push(format!("{}: {e}", task.label()));
                }
            }
        }
        let pitch_task = BENCH_TASKS[1];
        let (mut p50, mut p99, mut max, mut latency) = (None, None, None, None);
        match engine.hop_processor(SAMPLE_RATE, pitch_task, BENCH_BLOCK) {
            Ok(Some(mut proc)) => {
                latency = Some(proc.latency_samples());
                let mut out = vec![0.0f32; BENCH_BLOCK];
                let mut times: Vec<f64> = signal
                    .chunks_exact(BENCH_BLOCK)
                    .map(|block| {
                        let t = Instant::now();
                        proc.process(block, &mut out);
                        t.elapsed().as_secs_f64() * 1e6
                    })
                    .collect();
                times.sort_by(f64::total_cmp);
                if !times.is_empty() {
                    p50 = Some(percentile(&times, 0.5));
                    p99 = Some(percentile(&times, 0.99));
                    max = times.last().copied();
                }
            }
            Ok(None) => notes.push("offline command-line tool: no per-block timing".into()),
            Err(e) => notes.push(format!("streaming: {e}")),
        }
        rows.push(BenchRow {
            engine: engine.kind().key().into(),
            label: engine.label().into(),
            realtime_factor: rtf,
            hop_p50_us: p50,
            hop_p99_us: p99,
            hop_max_us: max,
            hop_budget_us: BENCH_BLOCK as f64 / f64::from(SAMPLE_RATE) * 1e6,
            latency_samples: latency,
            peak_memory_bytes: peak,
            note: notes.join("; "),
        });
        progress(i + 1, engines.len(), engine.kind().key());
    }
    rows
}

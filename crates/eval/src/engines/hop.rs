//! Streaming use of the engines for per-hop timing and latency: the [`HopProcessor`]
//! interface and its implementations over the real-time `Processor`, a `Stretcher`, and
//! Signalsmith Stretch.

use xodvox_dsp::{
    classical_engine, Controls, PhaseEngine, PitchMode, StftConfig, Stretcher, StretcherConfig,
};
use xodvox_infer::{BackendKind, ModelBundle, Preset, Processor, ProcessorControls, WaitMode};

use super::{Engine, Inner};
use crate::error::{EvalError, Result};
use crate::set::Task;

impl Engine {
    /// Samples of delay a real-time (streaming) use of this engine has, where known.
    pub fn streaming_latency(&self, sample_rate: u32, task: Task) -> Option<usize> {
        self.hop_processor(sample_rate, task, crate::bench::BENCH_BLOCK)
            .ok()
            .flatten()
            .map(|p| p.latency_samples())
    }

    /// A streaming processor working in blocks of `block` samples at stretch 1, for per-hop
    /// timing; `None` for engines that are only available as offline command-line tools.
    ///
    /// # Errors
    /// The chain refused the settings or the model could not be loaded.
    pub fn hop_processor(
        &self,
        sample_rate: u32,
        task: Task,
        block: usize,
    ) -> Result<Option<Box<dyn HopProcessor>>> {
        let stretcher = |engine: Box<dyn PhaseEngine>,
                         pitch_mode: PitchMode|
         -> Result<Box<dyn HopProcessor>> {
            let mut st = Stretcher::new(
                StretcherConfig {
                    sample_rate: f64::from(sample_rate),
                    channels: 1,
                    stft: StftConfig::default(),
                    min_pitch_semitones: task.pitch_semitones.min(0.0),
                    max_pitch_semitones: task.pitch_semitones.max(0.0),
                    pitch_mode,
                },
                engine,
            )?;
            st.set_controls(Controls {
                stretch: 1.0,
                pitch_semitones: task.pitch_semitones,
                style_index: 0,
            })?;
            Ok(Box::new(StretcherHop(st)))
        };
        // The constant-latency engines run as the plugin does: the real-time `Processor`.
        let processor =
            |model: Option<&ModelBundle>, backend: BackendKind| -> Result<Box<dyn HopProcessor>> {
                let preset = Preset {
                    model,
                    backend,
                    // Deterministic: every frame neural (as a host's offline bounce).
                    wait: WaitMode::Offline,
                };
                let mut p = Processor::new(&preset, f64::from(sample_rate), 1)?;
                p.set_controls(ProcessorControls {
                    pitch_semitones: task.pitch_semitones,
                    style: 0,
                    neural: model.is_some(),
                });
                p.reset();
                if model.is_some() && !p.neural_available() {
                    return Err(EvalError::Usage(format!(
                        "real-time processor: {}",
                        p.availability().message()
                    )));
                }
                Ok(Box::new(ProcessorHop(p)))
            };
        match &self.inner {
            Inner::Classical(PitchMode::Spectral) => Ok(Some(processor(None, BackendKind::Tract)?)),
            // The resampling path is an offline option; streamed here on its own stretcher.
            Inner::Classical(mode) => Ok(Some(stretcher(
                classical_engine(StftConfig::default().n_fft),
                *mode,
            )?)),
            Inner::Neural { bundle, backend } => Ok(Some(processor(Some(bundle), *backend)?)),
            Inner::Tool { .. } => Ok(None),
            #[cfg(feature = "signalsmith")]
            Inner::Signalsmith => {
                let mut s = signalsmith_stretch::Stretch::preset_default(1, sample_rate);
                s.set_transpose_factor_semitones(task.pitch_semitones as f32, None);
                Ok(Some(Box::new(SignalsmithHop {
                    stretch: s,
                    _block: block,
                })))
            }
        }
    }
}

/// A streaming processor: one call per block, same number of samples in and out.
pub trait HopProcessor {
    /// Processes one block (`input.len() == output.len()`).
    fn process(&mut self, input: &[f32], output: &mut [f32]);
    /// Delay of the output in samples.
    fn latency_samples(&self) -> usize;
}

struct StretcherHop(Stretcher);

struct ProcessorHop(Processor);

impl HopProcessor for ProcessorHop {
    fn process(&mut self, input: &[f32], output: &mut [f32]) {
        self.0.process(&[input], &mut [output]);
    }
    fn latency_samples(&self) -> usize {
        self.0.latency_samples()
    }
}

impl HopProcessor for StretcherHop {
    fn process(&mut self, input: &[f32], output: &mut [f32]) {
        self.0.process(&[input], &mut [output]);
    }
    fn latency_samples(&self) -> usize {
        self.0.latency_samples()
    }
}

#[cfg(feature = "signalsmith")]
struct SignalsmithHop {
    stretch: signalsmith_stretch::Stretch,
    _block: usize,
}

#[cfg(feature = "signalsmith")]
impl HopProcessor for SignalsmithHop {
    fn process(&mut self, input: &[f32], output: &mut [f32]) {
        self.stretch.process(input, output);
    }
    fn latency_samples(&self) -> usize {
        self.stretch.input_latency() + self.stretch.output_latency()
    }
}

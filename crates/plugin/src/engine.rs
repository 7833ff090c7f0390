//! [`SwitchEngine`]: one phase engine the plugin can move between neural and classical at
//! any frame, without rebuilding the chain (which would allocate) and without changing the
//! latency.
//!
//! The neural engine ([`RealtimePhaseEngine`]) lags one frame behind (its result for frame
//! `m` is collected while frame `m + 1` is analysed). So that the latency the host was told
//! never depends on the engine, the classical engine is run one frame late too: this engine
//! always reports `latency_frames() == 1` and keeps its own copy of the last frame.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use xodvox_dsp::{ClassicPhaseEngine, Controls, PhaseEngine, PhaseFrame};
use xodvox_infer::RealtimePhaseEngine;

/// A copy of one analysed frame (the frame the next call synthesises).
struct HeldFrame {
    magnitude: Vec<f32>,
    analysis_phase: Vec<f32>,
    inst_freq: Vec<f32>,
    analysis_hop: usize,
    synthesis_hop: usize,
    transient: bool,
    controls: Controls,
}

impl HeldFrame {
    fn new(bins: usize) -> Self {
        Self {
            magnitude: vec![0.0; bins],
            analysis_phase: vec![0.0; bins],
            inst_freq: vec![0.0; bins],
            analysis_hop: 0,
            synthesis_hop: 0,
            transient: false,
            controls: Controls::default(),
        }
    }

    fn store(&mut self, frame: &PhaseFrame<'_>) {
        self.magnitude.copy_from_slice(frame.magnitude);
        self.analysis_phase.copy_from_slice(frame.analysis_phase);
        self.inst_freq.copy_from_slice(frame.inst_freq);
        self.analysis_hop = frame.analysis_hop;
        self.synthesis_hop = frame.synthesis_hop;
        self.transient = frame.transient;
        self.controls = frame.controls;
    }

    fn frame(&self) -> PhaseFrame<'_> {
        PhaseFrame {
            magnitude: &self.magnitude,
            analysis_phase: &self.analysis_phase,
            inst_freq: &self.inst_freq,
            analysis_hop: self.analysis_hop,
            synthesis_hop: self.synthesis_hop,
            transient: self.transient,
            controls: self.controls,
        }
    }
}

/// Classical or neural phase, chosen frame by frame through a shared flag.
pub(crate) struct SwitchEngine {
    classic: ClassicPhaseEngine,
    neural: Option<RealtimePhaseEngine>,
    /// Written by the plugin: use the neural engine (ignored when there is none).
    want_neural: Arc<AtomicBool>,
    /// Read by the UI: the neural engine produced the last frame.
    neural_active: Arc<AtomicBool>,
    using_neural: bool,
    held: HeldFrame,
    has_held: bool,
    last_phase: Vec<f32>,
    scratch: Vec<f32>,
}

impl SwitchEngine {
    pub(crate) fn new(
        bins: usize,
        neural: Option<RealtimePhaseEngine>,
        want_neural: Arc<AtomicBool>,
        neural_active: Arc<AtomicBool>,
    ) -> Self {
        Self {
            classic: ClassicPhaseEngine::new(bins),
            neural,
            want_neural,
            neural_active,
            using_neural: false,
            held: HeldFrame::new(bins),
            has_held: false,
            last_phase: vec![0.0; bins],
            scratch: vec![0.0; bins],
        }
    }
}

impl PhaseEngine for SwitchEngine {
    fn name(&self) -> &str {
        if self.using_neural {
            "neural"
        } else {
            "classic"
        }
    }

    fn num_bins(&self) -> usize {
        self.classic.num_bins()
    }

    fn latency_frames(&self) -> usize {
        1
    }

    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]) {
        let want = self.want_neural.load(Ordering::Relaxed);
        match self.neural.as_mut() {
            Some(neural) if want => {
                if !self.using_neural {
                    // Start the neural engine afresh and hand it the frame it must
                    // synthesise now, so that it is in step from this call on. That first
                    // frame falls back to the classical phase inside it (a phase reset).
                    neural.reset();
                    if self.has_held {
                        neural.synthesis_phase(&self.held.frame(), &mut self.scratch);
                    }
                    self.using_neural = true;
                }
                neural.synthesis_phase(frame, phase_out);
            }
            _ => {
                if self.using_neural {
                    // Continue coherently from the phase the neural engine last produced.
                    self.classic.set_previous_phase(&self.last_phase);
                    self.using_neural = false;
                }
                if self.has_held {
                    self.classic.synthesis_phase(&self.held.frame(), phase_out);
                } else {
                    phase_out.iter_mut().for_each(|p| *p = 0.0);
                }
            }
        }
        self.neural_active
            .store(self.using_neural, Ordering::Relaxed);
        self.last_phase.copy_from_slice(phase_out);
        self.held.store(frame);
        self.has_held = true;
    }

    fn reset(&mut self) {
        self.classic.reset();
        if let Some(n) = self.neural.as_mut() {
            n.reset();
        }
        self.using_neural = false;
        self.has_held = false;
        self.last_phase.iter_mut().for_each(|p| *p = 0.0);
    }
}

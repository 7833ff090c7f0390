//! [`SwitchEngine`]: the [`Processor`](crate::Processor)'s phase engine, which moves between
//! neural and classical at any frame, without rebuilding the chain (which would allocate) and
//! without changing the latency.
//!
//! The neural engine ([`RealtimePhaseEngine`]) lags one frame behind (its result for frame
//! `m` is collected while frame `m + 1` is analysed). So that the latency the host was told
//! never depends on the engine, the classical engine is run one frame late too: this engine
//! always reports `latency_frames() == 1` and keeps its own copy of the last frame.
//!
//! A new neural engine (another model chosen while the plugin runs) arrives through an
//! [`EngineHandoff`]: the audio thread takes it with an atomic pointer swap and hands the
//! engine it replaces back the same way, to be dropped (its thread joined, its memory freed)
//! off the audio thread.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Arc;

use xodvox_dsp::{ClassicalPhaseEngine, OwnedFrame, PhaseEngine, PhaseFrame};

use crate::realtime::RealtimePhaseEngine;

/// Lock-free handover of neural engines between a loader thread and the audio thread: one
/// slot for the next engine, one for the engine it replaced (the audio thread takes a new
/// engine only when the retired slot is empty, so it never has to drop one).
#[derive(Debug, Default)]
pub struct EngineHandoff {
    incoming: AtomicPtr<RealtimePhaseEngine>,
    retired: AtomicPtr<RealtimePhaseEngine>,
}

impl EngineHandoff {
    /// Offers `engine` to the audio thread (not the audio thread: drops what it replaces).
    /// An engine offered earlier and not yet taken is dropped here.
    pub fn offer(&self, engine: RealtimePhaseEngine) {
        self.collect();
        let new = Box::into_raw(Box::new(engine));
        let old = self.incoming.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: every non-null pointer in the slots comes from `Box::into_raw`, and the
            // swap made this thread its only owner.
            drop(unsafe { Box::from_raw(old) });
        }
    }

    /// Drops the engine the audio thread retired, if any (not the audio thread). Returns
    /// whether there was one.
    pub fn collect(&self) -> bool {
        let old = self.retired.swap(ptr::null_mut(), Ordering::AcqRel);
        if old.is_null() {
            return false;
        }
        // SAFETY: as in `offer`.
        drop(unsafe { Box::from_raw(old) });
        true
    }

    /// Whether an offered engine waits to be taken.
    pub fn pending(&self) -> bool {
        !self.incoming.load(Ordering::Acquire).is_null()
    }

    /// Audio thread: the offered engine, if any and if the retired slot is free.
    fn take(&self) -> Option<Box<RealtimePhaseEngine>> {
        if !self.retired.load(Ordering::Acquire).is_null() {
            return None;
        }
        let p = self.incoming.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `offer`.
        (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
    }

    /// Audio thread: parks a replaced engine (the slot is empty: checked by `take`).
    fn retire(&self, engine: Box<RealtimePhaseEngine>) {
        let old = self.retired.swap(Box::into_raw(engine), Ordering::AcqRel);
        debug_assert!(old.is_null());
    }
}

impl Drop for EngineHandoff {
    fn drop(&mut self) {
        for slot in [&self.incoming, &self.retired] {
            let p = slot.swap(ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: as in `offer`.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// Classical or neural phase, chosen frame by frame through a shared flag.
pub(crate) struct SwitchEngine {
    classical: ClassicalPhaseEngine,
    neural: Option<Box<RealtimePhaseEngine>>,
    handoff: Arc<EngineHandoff>,
    /// Written by the processor: use the neural engine (ignored when there is none).
    want_neural: Arc<AtomicBool>,
    /// Read by the UI: the neural engine produced the last frame.
    neural_active: Arc<AtomicBool>,
    using_neural: bool,
    held: OwnedFrame,
    has_held: bool,
    last_phase: Vec<f32>,
    scratch: Vec<f32>,
}

impl SwitchEngine {
    pub(crate) fn new(
        bins: usize,
        neural: Option<RealtimePhaseEngine>,
        handoff: Arc<EngineHandoff>,
        want_neural: Arc<AtomicBool>,
        neural_active: Arc<AtomicBool>,
    ) -> Self {
        Self {
            classical: ClassicalPhaseEngine::new(bins),
            neural: neural.map(Box::new),
            handoff,
            want_neural,
            neural_active,
            using_neural: false,
            held: OwnedFrame::new(bins),
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
            "classical"
        }
    }

    fn num_bins(&self) -> usize {
        self.classical.num_bins()
    }

    fn latency_frames(&self) -> usize {
        1
    }

    fn synthesis_gain(&self) -> Option<&[f32]> {
        match self.neural.as_ref() {
            Some(neural) if self.using_neural => neural.synthesis_gain(),
            _ => None,
        }
    }

    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]) {
        if let Some(new) = self.handoff.take() {
            if let Some(old) = self.neural.replace(new) {
                self.handoff.retire(old);
            }
            if self.using_neural {
                // The new engine starts afresh (below) from the phase the old one produced.
                self.classical.set_previous_phase(&self.last_phase);
                self.using_neural = false;
            }
        }
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
                    self.classical.set_previous_phase(&self.last_phase);
                    self.using_neural = false;
                }
                if self.has_held {
                    self.classical
                        .synthesis_phase(&self.held.frame(), phase_out);
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
        self.classical.reset();
        if let Some(n) = self.neural.as_mut() {
            n.reset();
        }
        self.using_neural = false;
        self.has_held = false;
        self.last_phase.iter_mut().for_each(|p| *p = 0.0);
    }
}

//! [`RealtimePhaseEngine`]: the neural engine made safe for the audio thread. Inference runs
//! on a worker thread; frames go there and phases come back through lock-free
//! single-producer/single-consumer queues (`rtrb`) with preallocated storage. The engine
//! lags by one frame ([`PhaseEngine::latency_frames`] = 1, i.e. one hop of latency): the
//! phase for frame `m` is collected while frame `m + 1` is analysed. If it is not back by
//! then, frame `m` takes the classical engine's phase (which always runs, kept in step with
//! the phase actually used), a miss is counted, and the stream goes on coherently. In
//! [`WaitMode::Offline`] the audio side waits for every result instead, so an offline bounce
//! is fully neural and deterministic.
//!
//! Each request carries the frame's magnitudes, its guide values (advance deviations, then
//! lock values, only for models with those inputs) and the control vector. For an `increment` model the first frame after
//! construction or a reset is synthesised with its analysis phase (the anchor; the worker's
//! output for it is not used), and later frames rotate the phase actually used for the
//! previous frame (neural or fallback) by the network's output.
//!
//! The worker owns the stream's network history: the step graph's per-layer states when the
//! backend loaded one (one frame computed per hop), else the windows of the last
//! `context_frames` frames. The states must see every frame in order, so:
//! - a frame whose result is late is still processed by the worker, in order (its result is
//!   discarded when it arrives; the audio side used the classical phase for it);
//! - a frame that cannot even be queued (the worker is [`QUEUE_FRAMES`] frames behind) is lost
//!   to the worker, so the next frame that is queued carries the reset flag: the worker zeroes
//!   its states (windows) and starts over from that frame, as at the start of a stream, while
//!   the audio side's running phase goes on (no anchor, no click);
//! - a failed step zeroes the states the same way.
//!
//! Inline and offline ([`WaitMode::Offline`]) renders with no misses feed the network the same
//! frames in the same order, so they are equal.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};
use xodvox_dsp::phase::wrap_phase;
use xodvox_dsp::{ClassicalPhaseEngine, OwnedFrame, PhaseEngine, PhaseFrame};

use crate::advance::AdvanceGuide;
use crate::backend::PhaseBackend;
use crate::engine::{anchors_on_reset, apply_network_output, network_gain};
use crate::meta::ModelMeta;
use crate::step::NetworkStream;

/// Frames that may be queued towards the worker; a frame that does not fit resets the
/// worker's network history (see the module docs).
pub const QUEUE_FRAMES: usize = 8;
/// Header of a message: frame id (two u32 halves as f32 bits) and a flag.
const HEADER: usize = 3;
/// Longest an offline wait lasts before the frame falls back (a stuck backend). After one
/// such timeout the engine stops waiting until [`PhaseEngine::reset`], so a hung backend costs
/// a host's offline bounce this long once, not once per frame.
pub const OFFLINE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether the audio side may wait for inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Never wait: a late result is a miss and the classical phase is used.
    RealTime,
    /// Wait for every result (offline rendering, a host's offline bounce).
    Offline,
}

/// Counters shared with the UI thread (all relaxed atomics; read them any time).
#[derive(Debug, Default)]
pub struct EngineStatus {
    /// Frames synthesised.
    pub frames: AtomicU64,
    /// Frames whose neural phase was not back in time (classical phase used).
    pub misses: AtomicU64,
    /// Inferences that failed in the backend.
    pub errors: AtomicU64,
    /// Duration of the last inference, microseconds.
    pub last_inference_us: AtomicU32,
    /// Frames that could not be queued to the worker (it was `QUEUE_FRAMES` behind); each
    /// run of them makes the worker restart its network history.
    pub dropped: AtomicU64,
    /// Times the worker zeroed its network history (stream starts, resets, dropped frames,
    /// failed steps).
    pub history_resets: AtomicU64,
    /// Frames the worker ran the network on.
    pub inferences: AtomicU64,
    /// Offline waits that timed out (a stuck backend; the engine then stops waiting until
    /// it is reset).
    pub offline_timeouts: AtomicU64,
}

/// Neural phase engine for the audio thread. See the module docs.
pub struct RealtimePhaseEngine {
    meta: Arc<ModelMeta>,
    mode: WaitMode,
    /// How long an offline wait lasts ([`OFFLINE_TIMEOUT`] unless set).
    offline_timeout: Duration,
    /// An offline wait timed out: do not wait again until reset.
    stalled: bool,
    to_worker: Producer<f32>,
    from_worker: Consumer<f32>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
    status: Arc<EngineStatus>,
    control: Vec<f32>,
    /// The frame the next call synthesises (kept for the classical fallback).
    held: OwnedFrame,
    has_held: bool,
    /// The held frame is the first since construction or reset (the anchor).
    held_first: bool,
    /// The next frame handed over is the first since construction or reset.
    first_frame: bool,
    /// This frame's guide values: advance, then lock (empty for models without them).
    advance: Vec<f32>,
    /// Private classical engine that produces the `advance` and `lock` inputs (audio thread;
    /// alloc-free).
    guide: AdvanceGuide,
    /// Id of the next frame to send.
    next_id: u64,
    /// Whether the held frame reached the worker.
    held_sent: bool,
    /// The next message must tell the worker to forget its window.
    reset_pending: bool,
    classical: ClassicalPhaseEngine,
    classical_phase: Vec<f32>,
    reply: Vec<f32>,
    phase: Vec<f32>,
    /// The held frame's magnitude gains (models with a gain head; 1 on anchor and
    /// fallback frames, so a late frame is exactly the classical one).
    gain: Vec<f32>,
    gain_bounds: Option<(f32, f32)>,
    /// Whether the worker runs the step graph.
    uses_step: bool,
}

fn id_bits(id: u64) -> [f32; 2] {
    [f32::from_bits(id as u32), f32::from_bits((id >> 32) as u32)]
}

fn id_from(bits: &[f32]) -> u64 {
    u64::from(bits[0].to_bits()) | (u64::from(bits[1].to_bits()) << 32)
}

/// Writes one message made of `parts` if it fits; returns whether it was written.
fn send(producer: &mut Producer<f32>, parts: &[&[f32]]) -> bool {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let Ok(mut chunk) = producer.write_chunk(len) else {
        return false;
    };
    let (a, b) = chunk.as_mut_slices();
    let mut dst = a.iter_mut().chain(b.iter_mut());
    for p in parts {
        for &v in *p {
            if let Some(d) = dst.next() {
                *d = v;
            }
        }
    }
    chunk.commit_all();
    true
}

/// Reads one message of `out.len()` values if one is complete.
fn receive(consumer: &mut Consumer<f32>, out: &mut [f32]) -> bool {
    let Ok(chunk) = consumer.read_chunk(out.len()) else {
        return false;
    };
    let (a, b) = chunk.as_slices();
    out[..a.len()].copy_from_slice(a);
    out[a.len()..].copy_from_slice(b);
    chunk.commit_all();
    true
}

impl RealtimePhaseEngine {
    /// Starts the worker thread with `backend` (built for `meta`).
    ///
    /// # Errors
    /// The OS refuses to start a thread.
    pub fn new(
        meta: Arc<ModelMeta>,
        backend: Box<dyn PhaseBackend>,
        mode: WaitMode,
    ) -> std::io::Result<Self> {
        let bins = meta.num_bins;
        let request_len = request_len(&meta);
        let reply_len = HEADER + 2 * bins;
        let (to_worker, worker_in) = RingBuffer::new(request_len * QUEUE_FRAMES);
        let (worker_out, from_worker) = RingBuffer::new(reply_len * QUEUE_FRAMES);
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(EngineStatus::default());
        // The worker's history (step states or windows), allocated here, owned by the worker.
        let stream = NetworkStream::new(&meta, backend.as_ref());
        let uses_step = stream.is_step();
        let worker = {
            let meta = meta.clone();
            let stop = stop.clone();
            let status = status.clone();
            let io = WorkerIo {
                input: worker_in,
                output: worker_out,
            };
            std::thread::Builder::new()
                .name("xodvox-inference".into())
                .spawn(move || worker_loop(&meta, backend, stream, io, &stop, &status))?
        };
        let held = OwnedFrame::new(bins);
        Ok(Self {
            control: vec![0.0; meta.n_controls],
            held,
            has_held: false,
            held_first: false,
            first_frame: true,
            advance: vec![0.0; advance_len(&meta)],
            guide: AdvanceGuide::new(meta.num_bins, meta.hop, meta.n_fft),
            next_id: 0,
            held_sent: false,
            reset_pending: true,
            classical: ClassicalPhaseEngine::new(bins),
            classical_phase: vec![0.0; bins],
            reply: vec![0.0; reply_len],
            phase: vec![0.0; bins],
            gain: vec![1.0; bins],
            gain_bounds: meta.gain_bounds(),
            uses_step,
            meta,
            mode,
            offline_timeout: OFFLINE_TIMEOUT,
            stalled: false,
            to_worker,
            from_worker,
            stop,
            worker: Some(worker),
            status,
        })
    }

    /// Sets how long an offline wait for one frame lasts before that frame falls back and the
    /// engine stops waiting (default `OFFLINE_TIMEOUT`).
    #[must_use]
    pub fn with_offline_timeout(mut self, timeout: Duration) -> Self {
        self.offline_timeout = timeout;
        self
    }

    /// Shared counters for a UI.
    pub fn status(&self) -> Arc<EngineStatus> {
        self.status.clone()
    }

    /// Whether the worker runs the step graph (one frame per hop from cached state) rather
    /// than a window of `context_frames` frames.
    pub fn uses_step(&self) -> bool {
        self.uses_step
    }

    /// Collects the worker's result for frame `id`; false if it is not (yet) there.
    fn collect(&mut self, id: u64) -> bool {
        let wait = self.mode == WaitMode::Offline && !self.stalled;
        // The clock is read only when this call may wait (never in real time).
        let deadline = wait.then(|| Instant::now() + self.offline_timeout);
        loop {
            while receive(&mut self.from_worker, &mut self.reply) {
                let got = id_from(&self.reply[..2]);
                if got == id {
                    return self.reply[2] > 0.5;
                }
                // Older replies (after misses) are dropped.
            }
            let Some(deadline) = deadline.filter(|_| self.held_sent) else {
                return false;
            };
            if Instant::now() > deadline {
                self.stalled = true;
                self.status.offline_timeouts.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

impl PhaseEngine for RealtimePhaseEngine {
    fn name(&self) -> &str {
        "neural"
    }

    fn num_bins(&self) -> usize {
        self.meta.num_bins
    }

    fn latency_frames(&self) -> usize {
        1
    }

    fn synthesis_phase(&mut self, frame: &PhaseFrame<'_>, phase_out: &mut [f32]) {
        // 1. Finish the held frame (the one the vocoder will synthesise now).
        if self.has_held {
            let id = self.next_id - 1;
            let held = self.held.frame();
            self.classical
                .synthesis_phase(&held, &mut self.classical_phase);
            let bins = self.meta.num_bins;
            let mut network = false;
            if self.held_first && anchors_on_reset(self.meta.phase_output) {
                // The anchor: no network output is needed (its reply is dropped later).
                self.phase.copy_from_slice(self.held.frame().analysis_phase);
            } else if self.collect(id) {
                network = true;
                apply_network_output(
                    self.meta.phase_output,
                    &self.reply[HEADER..HEADER + 2 * bins],
                    &mut self.phase,
                );
            } else {
                self.status.misses.fetch_add(1, Ordering::Relaxed);
                self.phase.copy_from_slice(&self.classical_phase);
            }
            if let Some(bounds) = self.gain_bounds {
                let raw = network.then_some(&self.reply[HEADER..HEADER + 2 * bins]);
                network_gain(raw, bounds, &mut self.gain);
            }
            self.classical.set_previous_phase(&self.phase);
            self.status.frames.fetch_add(1, Ordering::Relaxed);
            for (o, &p) in phase_out.iter_mut().zip(&self.phase) {
                *o = wrap_phase(p);
            }
        } else {
            phase_out.iter_mut().for_each(|p| *p = 0.0);
        }

        // 2. Hold the new frame and send it to the worker.
        self.held.store(frame);
        self.has_held = true;
        self.held_first = self.first_frame;
        self.first_frame = false;
        if !self.advance.is_empty() {
            self.guide.write_guides(frame, &mut self.advance);
        }
        self.meta
            .write_control_vector(&frame.controls, &mut self.control);
        let [lo, hi] = id_bits(self.next_id);
        let flag = [if self.reset_pending { 1.0 } else { 0.0 }];
        self.held_sent = send(
            &mut self.to_worker,
            &[
                &[lo, hi],
                &flag,
                frame.magnitude,
                &self.advance,
                &self.control,
            ],
        );
        if self.held_sent {
            self.reset_pending = false;
        } else {
            // The worker never sees this frame: its history restarts at the next one queued.
            self.reset_pending = true;
            self.status.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.next_id += 1;
    }

    fn synthesis_gain(&self) -> Option<&[f32]> {
        self.gain_bounds.map(|_| &self.gain[..])
    }

    fn reset(&mut self) {
        self.stalled = false;
        self.has_held = false;
        self.held_first = false;
        self.first_frame = true;
        self.held_sent = false;
        self.reset_pending = true;
        self.phase.iter_mut().for_each(|p| *p = 0.0);
        self.classical.reset();
        self.guide.reset();
        while receive(&mut self.from_worker, &mut self.reply) {}
    }
}

/// Longest [`RealtimePhaseEngine`]'s drop waits for its worker to finish the inference it is
/// in; a worker stuck in its backend longer than this is detached (it ends when the backend
/// returns), so dropping the engine never hangs the host.
const WORKER_JOIN_TIMEOUT: Duration = Duration::from_secs(2);

impl Drop for RealtimePhaseEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.worker.take() {
            let deadline = Instant::now() + WORKER_JOIN_TIMEOUT;
            while !w.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if w.is_finished() {
                let _ = w.join();
            }
        }
    }
}

/// Values of the guide part of a request: `num_bins` per guide input (advance, lock).
fn advance_len(meta: &ModelMeta) -> usize {
    meta.num_bins * meta.guide_inputs()
}

/// Length of a request: header, magnitudes, guide values, control vector.
fn request_len(meta: &ModelMeta) -> usize {
    HEADER + meta.num_bins + advance_len(meta) + meta.n_controls
}

/// The worker's ends of the two queues.
struct WorkerIo {
    input: Consumer<f32>,
    output: Producer<f32>,
}

/// Runs every queued frame through the network in order, with `stream`'s history (zeroed
/// when a request carries the reset flag or a step fails).
fn worker_loop(
    meta: &ModelMeta,
    mut backend: Box<dyn PhaseBackend>,
    mut stream: NetworkStream,
    io: WorkerIo,
    stop: &AtomicBool,
    status: &EngineStatus,
) {
    let WorkerIo {
        mut input,
        mut output,
    } = io;
    let bins = meta.num_bins;
    let adv_len = advance_len(meta);
    let mut request = vec![0.0f32; request_len(meta)];
    let mut raw = vec![0.0f32; 2 * bins];
    while !stop.load(Ordering::Relaxed) {
        if !receive(&mut input, &mut request) {
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        if request[2] > 0.5 {
            stream.reset();
            status.history_resets.fetch_add(1, Ordering::Relaxed);
        }
        let advance = (adv_len > 0).then(|| &request[HEADER + bins..HEADER + bins + adv_len]);
        stream.push(&request[HEADER..HEADER + bins], advance);
        let control = &request[HEADER + bins + adv_len..];
        let start = Instant::now();
        let ok = match stream.run(backend.as_mut(), control, &mut raw) {
            Ok(()) => true,
            Err(_) => {
                status.errors.fetch_add(1, Ordering::Relaxed);
                if stream.is_step() {
                    // NetworkStream::run zeroed the states.
                    status.history_resets.fetch_add(1, Ordering::Relaxed);
                }
                false
            }
        };
        status.inferences.fetch_add(1, Ordering::Relaxed);
        status.last_inference_us.store(
            start.elapsed().as_micros().min(u32::MAX as u128) as u32,
            Ordering::Relaxed,
        );
        let flag = [if ok { 1.0 } else { 0.0 }];
        // If the audio side stopped reading, the reply is dropped: it counts as a miss there.
        let _ = send(&mut output, &[&request[..2], &flag, &raw]);
    }
}

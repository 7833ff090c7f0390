//! Where the offline batched engine's network blocks run: inline on the caller's thread, or
//! on worker threads that each own a backend (jobs handed out round robin, results taken
//! back in submission order), so analysis and synthesis go on while the network runs.

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use crate::backend::PhaseBackend;

/// One block of network input: `frames` frames in the graph's layout, of which the last
/// `new` are the ones whose output is wanted (the others are left context).
pub(crate) struct Job {
    /// Magnitudes, `[bins, frames]`.
    pub mag: Vec<f32>,
    /// Guide values (advance block, then lock block), each `[bins, frames]`; empty for
    /// models without them.
    pub guides: Vec<f32>,
    /// Frames in the block.
    pub frames: usize,
    /// Frames at the end of the block whose output is returned.
    pub new: usize,
    /// The control vector of the block.
    pub control: Vec<f32>,
}

/// The network output of a job's new frames, frame-major: `new × 2 × bins` values (each
/// frame's real parts, then its imaginary parts), or why it failed.
pub(crate) type JobResult = Result<Vec<f32>, String>;

/// Runs `job` on `backend` and returns the output of its new frames.
fn run_job(backend: &mut dyn PhaseBackend, bins: usize, job: &Job) -> JobResult {
    let t = job.frames;
    let mut out = vec![0.0f32; 2 * bins * t];
    let guides = (!job.guides.is_empty()).then_some(&job.guides[..]);
    backend
        .run_frames(&job.mag, guides, t, &job.control, &mut out)
        .map_err(|e| e.to_string())?;
    let mut raw = vec![0.0f32; job.new * 2 * bins];
    for (j, frame) in raw.chunks_exact_mut(2 * bins).enumerate() {
        let col = t - job.new + j;
        for (row, v) in frame.iter_mut().enumerate() {
            *v = out[row * t + col];
        }
    }
    Ok(raw)
}

/// A worker thread with its own backend.
struct Worker {
    jobs: Option<Sender<Job>>,
    results: Receiver<JobResult>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(mut backend: Box<dyn PhaseBackend>, bins: usize) -> Self {
        let (jobs, job_rx) = channel::<Job>();
        let (result_tx, results) = channel();
        let handle = std::thread::spawn(move || {
            for job in job_rx {
                if result_tx
                    .send(run_job(backend.as_mut(), bins, &job))
                    .is_err()
                {
                    break;
                }
            }
        });
        Self {
            jobs: Some(jobs),
            results,
            handle: Some(handle),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the job channel ends the worker's loop.
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

enum Mode {
    Inline {
        backend: Box<dyn PhaseBackend>,
        done: VecDeque<JobResult>,
    },
    Threads {
        workers: Vec<Worker>,
        /// Jobs submitted and received so far (job `k` goes to worker `k % workers`).
        submitted: usize,
        received: usize,
    },
}

/// Runs jobs and hands their results back in submission order.
pub(crate) struct Runner {
    mode: Mode,
    bins: usize,
    name: &'static str,
    /// New-frame counts of the jobs submitted and not yet received, oldest first.
    pending: VecDeque<usize>,
}

impl Runner {
    /// Runs every job on `backend` on the caller's thread, when it is submitted.
    pub(crate) fn inline(backend: Box<dyn PhaseBackend>, bins: usize) -> Self {
        Self {
            name: backend.name(),
            mode: Mode::Inline {
                backend,
                done: VecDeque::new(),
            },
            bins,
            pending: VecDeque::new(),
        }
    }

    /// One worker thread per backend (at least one backend).
    pub(crate) fn threads(backends: Vec<Box<dyn PhaseBackend>>, bins: usize) -> Self {
        let name = backends.first().map_or("none", |b| b.name());
        Self {
            name,
            mode: Mode::Threads {
                workers: backends
                    .into_iter()
                    .map(|b| Worker::spawn(b, bins))
                    .collect(),
                submitted: 0,
                received: 0,
            },
            bins,
            pending: VecDeque::new(),
        }
    }

    /// Backend name.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Worker threads (0 when inline).
    pub(crate) fn workers(&self) -> usize {
        match &self.mode {
            Mode::Inline { .. } => 0,
            Mode::Threads { workers, .. } => workers.len(),
        }
    }

    /// Starts `job` (inline: runs it now).
    pub(crate) fn submit(&mut self, job: Job) {
        self.pending.push_back(job.new);
        match &mut self.mode {
            Mode::Inline { backend, done } => {
                done.push_back(run_job(backend.as_mut(), self.bins, &job));
            }
            Mode::Threads {
                workers, submitted, ..
            } => {
                let w = &workers[*submitted % workers.len()];
                *submitted += 1;
                // A worker that is gone answers with a closed channel, seen in `receive`.
                if let Some(tx) = &w.jobs {
                    let _ = tx.send(job);
                }
            }
        }
    }

    /// Whether a submitted job's result has not been received yet.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The oldest outstanding job's new-frame count and result (waits for it).
    pub(crate) fn receive(&mut self) -> Option<(usize, JobResult)> {
        let new = self.pending.pop_front()?;
        let result = match &mut self.mode {
            Mode::Inline { done, .. } => {
                done.pop_front().unwrap_or_else(|| Err("no result".into()))
            }
            Mode::Threads {
                workers, received, ..
            } => {
                let w = &workers[*received % workers.len()];
                *received += 1;
                w.results
                    .recv()
                    .unwrap_or_else(|_| Err("the inference worker stopped".into()))
            }
        };
        Some((new, result))
    }
}

//! The history fed to the network: the last `context_frames` frames of a per-bin feature
//! (magnitude; the advance deviation for models with that input) in the graph's
//! `[bins, time]` layout.

/// Rolling window of per-bin frames (magnitudes, or advance values as
/// [`AdvanceWindow`]), allocated once.
#[derive(Debug, Clone)]
pub struct MagnitudeWindow {
    bins: usize,
    context: usize,
    /// `bins × context`, bin-major, oldest frame first.
    data: Vec<f32>,
    /// Contiguous copy of the last `frames` columns while the stream is younger than the
    /// context.
    partial: Vec<f32>,
    frames_seen: usize,
}

impl MagnitudeWindow {
    /// Creates an empty window.
    pub fn new(bins: usize, context: usize) -> Self {
        Self {
            bins,
            context,
            data: vec![0.0; bins * context],
            partial: vec![0.0; bins * context],
            frames_seen: 0,
        }
    }

    /// Forgets all frames.
    pub fn reset(&mut self) {
        self.data.iter_mut().for_each(|v| *v = 0.0);
        self.frames_seen = 0;
    }

    /// Appends a frame (`bins` values), dropping the oldest. Non-finite values become 0.
    pub fn push(&mut self, mag: &[f32]) {
        let c = self.context;
        for (b, &m) in mag.iter().enumerate().take(self.bins) {
            let row = &mut self.data[b * c..(b + 1) * c];
            row.copy_within(1.., 0);
            row[c - 1] = if m.is_finite() { m } else { 0.0 };
        }
        self.frames_seen = self.frames_seen.saturating_add(1);
    }

    /// The network input: `(data, frames)` with `frames = min(frames seen, context)`.
    pub fn view(&mut self) -> (&[f32], usize) {
        let frames = self.frames_seen.min(self.context).max(1);
        if frames == self.context {
            return (&self.data, frames);
        }
        let c = self.context;
        for b in 0..self.bins {
            self.partial[b * frames..(b + 1) * frames]
                .copy_from_slice(&self.data[b * c + c - frames..(b + 1) * c]);
        }
        (&self.partial[..self.bins * frames], frames)
    }
}

/// The rolling window of `advance` frames: the same structure and layout as the magnitudes'.
pub type AdvanceWindow = MagnitudeWindow;

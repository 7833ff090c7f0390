//! The tract backend: the graph is optimised once per window length (the full context at
//! load; the shorter windows of a stream's first frames on first use).

use tract_onnx::prelude::*;

use crate::backend::PhaseBackend;
use crate::bundle::ModelBundle;
use crate::error::InferError;

type Plan = std::sync::Arc<TypedRunnableModel>;

/// tract-onnx backend.
pub struct TractBackend {
    onnx: std::sync::Arc<[u8]>,
    bins: usize,
    n_controls: usize,
    /// `plans[t - 1]` runs a window of `t` frames.
    plans: Vec<Option<Plan>>,
}

impl TractBackend {
    /// Parses and optimises the graph for the full context window.
    ///
    /// # Errors
    /// [`InferError::Backend`] if tract cannot load or type the graph.
    pub fn new(bundle: &ModelBundle) -> Result<Self, InferError> {
        let context = bundle.meta.context_frames;
        let mut b = Self {
            onnx: bundle.onnx.clone(),
            bins: bundle.meta.num_bins,
            n_controls: bundle.meta.n_controls,
            plans: vec![None; context],
        };
        b.plan(context)?;
        Ok(b)
    }

    fn plan(&mut self, frames: usize) -> Result<Plan, InferError> {
        if let Some(p) = &self.plans[frames - 1] {
            return Ok(p.clone());
        }
        let e = |e| InferError::backend("tract", e);
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &self.onnx[..])
            .map_err(e)?
            .with_input_fact(0, f32::fact([1, 1, self.bins, frames]).into())
            .map_err(e)?
            .with_input_fact(1, f32::fact([1, self.n_controls]).into())
            .map_err(e)?
            .into_optimized()
            .map_err(e)?
            .into_runnable()
            .map_err(e)?;
        self.plans[frames - 1] = Some(plan.clone());
        Ok(plan)
    }
}

impl PhaseBackend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn run(
        &mut self,
        mag: &[f32],
        frames: usize,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        let e = |e| InferError::backend("tract", e);
        let plan = self.plan(frames)?;
        let mag = Tensor::from_shape(&[1, 1, self.bins, frames], mag).map_err(e)?;
        let ctl = Tensor::from_shape(&[1, self.n_controls], control).map_err(e)?;
        let out = plan.run(tvec!(mag.into(), ctl.into())).map_err(e)?;
        let view = out[0].to_plain_array_view::<f32>().map_err(e)?;
        if view.shape() != [1, 2, self.bins, frames] {
            return Err(InferError::backend(
                "tract",
                format!(
                    "output shape {:?}, expected [1, 2, {}, {frames}]",
                    view.shape(),
                    self.bins
                ),
            ));
        }
        for c in 0..2 {
            for b in 0..self.bins {
                phase_out[c * self.bins + b] = view[[0, c, b, frames - 1]];
            }
        }
        Ok(())
    }
}

//! The tract backend: the graph is optimised once per window length (the full context at
//! load; the shorter windows of a stream's first frames on first use). Inputs are matched to
//! the graph by name (tract orders them as the graph lists them).

use tract_onnx::prelude::*;

use crate::backend::PhaseBackend;
use crate::bundle::ModelBundle;
use crate::error::InferError;
use crate::meta::ADVANCE_INPUT;

type Plan = std::sync::Arc<TypedRunnableModel>;

/// Positions of the named inputs in the graph's input list.
#[derive(Debug, Clone, Copy)]
struct InputSlots {
    mag: usize,
    control: usize,
    advance: Option<usize>,
}

/// tract-onnx backend.
pub struct TractBackend {
    onnx: std::sync::Arc<[u8]>,
    bins: usize,
    n_controls: usize,
    slots: InputSlots,
    /// `plans[t - 1]` runs a window of `t` frames.
    plans: Vec<Option<Plan>>,
}

impl TractBackend {
    /// Parses the graph, maps its input names (`mag`, `control`, optional `advance`) to
    /// positions, and optimises it for the full context window.
    ///
    /// # Errors
    /// [`InferError::Backend`] if tract cannot load or type the graph;
    /// [`InferError::Mismatch`] if the graph's inputs differ from `model.json`'s.
    pub fn new(bundle: &ModelBundle) -> Result<Self, InferError> {
        let e = |e| InferError::backend("tract", e);
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bundle.onnx[..])
            .map_err(e)?;
        let graph_names: Vec<String> = model
            .input_outlets()
            .map_err(e)?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        let slots = input_slots(bundle, &graph_names)?;
        let context = bundle.meta.context_frames;
        let mut b = Self {
            onnx: bundle.onnx.clone(),
            bins: bundle.meta.num_bins,
            n_controls: bundle.meta.n_controls,
            slots,
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
        let frame_fact = || f32::fact([1, 1, self.bins, frames]).into();
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &self.onnx[..])
            .map_err(e)?
            .with_input_fact(self.slots.mag, frame_fact())
            .map_err(e)?
            .with_input_fact(self.slots.control, f32::fact([1, self.n_controls]).into())
            .map_err(e)?;
        if let Some(a) = self.slots.advance {
            model = model.with_input_fact(a, frame_fact()).map_err(e)?;
        }
        let plan = model
            .into_optimized()
            .map_err(e)?
            .into_runnable()
            .map_err(e)?;
        self.plans[frames - 1] = Some(plan.clone());
        Ok(plan)
    }
}

/// Maps the graph's input names to positions, checking them against the metadata.
fn input_slots(bundle: &ModelBundle, graph: &[String]) -> Result<InputSlots, InferError> {
    let names: Vec<&str> = graph.iter().map(String::as_str).collect();
    crate::backend::check_graph_inputs(bundle, &names)?;
    let pos = |name: &str| graph.iter().position(|n| n == name);
    Ok(InputSlots {
        mag: pos("mag").unwrap_or(0),
        control: pos("control").unwrap_or(1),
        advance: pos(ADVANCE_INPUT),
    })
}

impl PhaseBackend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn run(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        let e = |e| InferError::backend("tract", e);
        let plan = self.plan(frames)?;
        let shape = [1, 1, self.bins, frames];
        let mut inputs: TVec<Option<TValue>> = tvec![None; 3];
        inputs[self.slots.mag] = Some(Tensor::from_shape(&shape, mag).map_err(e)?.into());
        inputs[self.slots.control] = Some(
            Tensor::from_shape(&[1, self.n_controls], control)
                .map_err(e)?
                .into(),
        );
        if let Some(slot) = self.slots.advance {
            let adv = advance.ok_or_else(|| {
                InferError::backend("tract", "the model needs the advance input, none was given")
            })?;
            inputs[slot] = Some(Tensor::from_shape(&shape, adv).map_err(e)?.into());
        }
        let inputs: TVec<TValue> = inputs.into_iter().flatten().collect();
        let out = plan.run(inputs).map_err(e)?;
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

//! The tract backend: the graph is optimised once per window length (the full context at
//! load; the shorter windows of a stream's first frames and the longer blocks of
//! [`PhaseBackend::run_frames`] on first use), and the step graph,
//! when the bundle has one, once at load for its fixed one-frame shapes. Inputs and outputs
//! are matched to the graphs by name (tract orders them as the graph lists them).

use std::collections::HashMap;

use tract_onnx::prelude::*;

use crate::backend::{check_step_io, PhaseBackend};
use crate::bundle::ModelBundle;
use crate::error::InferError;
use crate::meta::{ADVANCE_INPUT, LOCK_INPUT};
use crate::step::StepState;

type Plan = std::sync::Arc<TypedRunnableModel>;

/// Positions of the named inputs in the graph's input list.
#[derive(Debug, Clone, Copy)]
struct InputSlots {
    mag: usize,
    control: usize,
    advance: Option<usize>,
    lock: Option<usize>,
}

/// Splits the per-frame guide values (`advance`, then `lock` when the graph has it; each
/// `block` values) and puts them into their input slots as `[1, 1, bins, frames]` tensors.
fn feed_guides(
    slots: &InputSlots,
    guides: Option<&[f32]>,
    shape: &[usize; 4],
    inputs: &mut TVec<Option<TValue>>,
) -> Result<(), InferError> {
    let e = |e: TractError| InferError::backend("tract", e);
    let block = shape.iter().product::<usize>();
    for (k, slot) in [slots.advance, slots.lock].into_iter().enumerate() {
        let Some(slot) = slot else { continue };
        let values = guides
            .and_then(|g| g.get(k * block..(k + 1) * block))
            .ok_or_else(|| {
                let name = if k == 0 { ADVANCE_INPUT } else { LOCK_INPUT };
                InferError::backend(
                    "tract",
                    format!("the model needs the {name} input, none was given"),
                )
            })?;
        inputs[slot] = Some(Tensor::from_shape(shape, values).map_err(e)?.into());
    }
    Ok(())
}

/// tract-onnx backend.
pub struct TractBackend {
    onnx: std::sync::Arc<[u8]>,
    bins: usize,
    n_controls: usize,
    slots: InputSlots,
    /// `plans[&t]` runs a window of `t` frames.
    plans: HashMap<usize, Plan>,
    /// The step graph, when the bundle has one.
    step: Option<StepPlan>,
}

/// The step graph, optimised for one frame of batch 1, and where its tensors sit.
struct StepPlan {
    /// A run state of the optimised plan, kept across calls (a fresh one per call would
    /// set up every node again).
    runner: TypedSimpleState,
    slots: InputSlots,
    /// Graph input position of each state, in `model.json` `step.states` order.
    state_in: Vec<usize>,
    /// Output position of `phase`.
    phase_out: usize,
    /// Output position of each new state, in the same order.
    state_out: Vec<usize>,
    inputs: usize,
}

/// Loads and optimises the bundle's step graph (`None` without one).
fn load_step(bundle: &ModelBundle) -> Result<Option<StepPlan>, InferError> {
    let (Some(bytes), Some(spec)) = (&bundle.step_onnx, &bundle.meta.step) else {
        return Ok(None);
    };
    let e = |err: TractError| {
        InferError::backend("tract", format!("step graph {}: {err:#}", spec.file))
    };
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(e)?;
    let inputs: Vec<String> = model
        .input_outlets()
        .map_err(e)?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let outputs: Vec<String> = model
        .output_outlets()
        .map_err(e)?
        .iter()
        .map(|&o| {
            model
                .outlet_label(o)
                .map_or_else(|| model.node(o.node).name.clone(), str::to_owned)
        })
        .collect();
    let input_refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let output_refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    check_step_io(bundle, &input_refs, &output_refs)?;
    // The names are checked: every lookup below finds its tensor.
    let pos = |v: &[String], n: &str| v.iter().position(|x| x == n).unwrap_or(0);
    let meta = &bundle.meta;
    let slots = InputSlots {
        mag: pos(&inputs, "mag"),
        control: pos(&inputs, "control"),
        advance: inputs.iter().position(|n| n == ADVANCE_INPUT),
        lock: inputs.iter().position(|n| n == LOCK_INPUT),
    };
    let frame = || f32::fact([1, 1, meta.num_bins, 1]).into();
    model = model.with_input_fact(slots.mag, frame()).map_err(e)?;
    model = model
        .with_input_fact(slots.control, f32::fact([1, meta.n_controls]).into())
        .map_err(e)?;
    for a in [slots.advance, slots.lock].into_iter().flatten() {
        model = model.with_input_fact(a, frame()).map_err(e)?;
    }
    let mut state_in = Vec::with_capacity(spec.states.len());
    for s in &spec.states {
        let [c, f, t] = s.dims().unwrap_or([0, 0, 0]);
        let slot = pos(&inputs, &s.input);
        model = model
            .with_input_fact(slot, f32::fact([1, c, f, t]).into())
            .map_err(e)?;
        state_in.push(slot);
    }
    let plan = model
        .into_optimized()
        .map_err(e)?
        .into_runnable()
        .map_err(e)?;
    Ok(Some(StepPlan {
        runner: plan.spawn().map_err(e)?,
        slots,
        state_in,
        phase_out: pos(&outputs, "phase"),
        state_out: spec
            .states
            .iter()
            .map(|s| pos(&outputs, &s.output))
            .collect(),
        inputs: inputs.len(),
    }))
}

impl TractBackend {
    /// Parses the graph, maps its input names (`mag`, `control`, optional `advance`, `lock`) to
    /// positions, and optimises it for the full context window.
    ///
    /// Also loads the step graph when the bundle has one, optimised once for one frame.
    ///
    /// # Errors
    /// [`InferError::Backend`] if tract cannot load or type a graph (naming the step graph
    /// when it is the one); [`InferError::Mismatch`] if a graph's inputs or outputs differ
    /// from `model.json`'s.
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
            plans: HashMap::new(),
            step: load_step(bundle)?,
        };
        b.plan(context)?;
        Ok(b)
    }

    fn plan(&mut self, frames: usize) -> Result<Plan, InferError> {
        if let Some(p) = self.plans.get(&frames) {
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
        for a in [self.slots.advance, self.slots.lock].into_iter().flatten() {
            model = model.with_input_fact(a, frame_fact()).map_err(e)?;
        }
        let plan = model
            .into_optimized()
            .map_err(e)?
            .into_runnable()
            .map_err(e)?;
        self.plans.insert(frames, plan.clone());
        Ok(plan)
    }

    /// Runs the graph on `frames` frames and returns its output tensor, checked to be
    /// `[1, 2, bins, frames]`.
    fn run_graph(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
    ) -> Result<TValue, InferError> {
        let e = |e| InferError::backend("tract", e);
        let plan = self.plan(frames)?;
        let shape = [1, 1, self.bins, frames];
        let mut inputs: TVec<Option<TValue>> = tvec![None; 4];
        inputs[self.slots.mag] = Some(Tensor::from_shape(&shape, mag).map_err(e)?.into());
        inputs[self.slots.control] = Some(
            Tensor::from_shape(&[1, self.n_controls], control)
                .map_err(e)?
                .into(),
        );
        feed_guides(&self.slots, advance, &shape, &mut inputs)?;
        let inputs: TVec<TValue> = inputs.into_iter().flatten().collect();
        let mut out = plan.run(inputs).map_err(e)?;
        let phase = out.swap_remove(0);
        if phase.shape() != [1, 2, self.bins, frames] {
            return Err(InferError::backend(
                "tract",
                format!(
                    "output shape {:?}, expected [1, 2, {}, {frames}]",
                    phase.shape(),
                    self.bins
                ),
            ));
        }
        Ok(phase)
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
        lock: pos(LOCK_INPUT),
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
        let out = self.run_graph(mag, advance, frames, control)?;
        let view = out.to_plain_array_view::<f32>().map_err(e)?;
        for c in 0..2 {
            for b in 0..self.bins {
                phase_out[c * self.bins + b] = view[[0, c, b, frames - 1]];
            }
        }
        Ok(())
    }

    fn run_frames(
        &mut self,
        mag: &[f32],
        advance: Option<&[f32]>,
        frames: usize,
        control: &[f32],
        out: &mut [f32],
    ) -> Result<(), InferError> {
        let e = |e| InferError::backend("tract", e);
        let phase = self.run_graph(mag, advance, frames, control)?;
        let view = phase.to_plain_array_view::<f32>().map_err(e)?;
        for (o, &v) in out.iter_mut().zip(view.iter()) {
            *o = v;
        }
        Ok(())
    }

    fn has_step(&self) -> bool {
        self.step.is_some()
    }

    fn step(
        &mut self,
        state: &mut StepState,
        mag: &[f32],
        advance: Option<&[f32]>,
        control: &[f32],
        phase_out: &mut [f32],
    ) -> Result<(), InferError> {
        let e = |e: TractError| InferError::backend("tract", e);
        let msg = |m: String| InferError::backend("tract", m);
        let Some(sp) = &mut self.step else {
            return Err(msg("no step graph is loaded".into()));
        };
        if state.len() != sp.state_in.len() {
            return Err(msg(format!(
                "{} states given, the step graph has {}",
                state.len(),
                sp.state_in.len()
            )));
        }
        let frame = [1, 1, self.bins, 1];
        let mut inputs: TVec<Option<TValue>> = tvec![None; sp.inputs];
        inputs[sp.slots.mag] = Some(Tensor::from_shape(&frame, mag).map_err(e)?.into());
        inputs[sp.slots.control] = Some(
            Tensor::from_shape(&[1, self.n_controls], control)
                .map_err(e)?
                .into(),
        );
        feed_guides(&sp.slots, advance, &frame, &mut inputs)?;
        for (i, &slot) in sp.state_in.iter().enumerate() {
            let t = Tensor::from_shape(&state.shape(i), state.values(i)).map_err(e)?;
            inputs[slot] = Some(t.into());
        }
        let inputs: TVec<TValue> = inputs.into_iter().flatten().collect();
        let out = sp.runner.run(inputs).map_err(e)?;
        let phase = out[sp.phase_out].to_plain_array_view::<f32>().map_err(e)?;
        if phase.len() != 2 * self.bins {
            return Err(msg(format!(
                "step graph phase has {} values, expected {}",
                phase.len(),
                2 * self.bins
            )));
        }
        for (o, &v) in phase_out.iter_mut().zip(phase.iter()) {
            *o = v;
        }
        for (i, &slot) in sp.state_out.iter().enumerate() {
            let new = out[slot].to_plain_array_view::<f32>().map_err(e)?;
            let dst = state.values_mut(i);
            if new.len() != dst.len() {
                return Err(msg(format!(
                    "step graph state {i} has {} values, expected {}",
                    new.len(),
                    dst.len()
                )));
            }
            for (d, &v) in dst.iter_mut().zip(new.iter()) {
                *d = v;
            }
        }
        Ok(())
    }
}

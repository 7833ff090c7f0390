//! Processing audio: [`Plugin::process`] runs the plugin's `process` in blocks on an audio
//! thread while the main thread answers `on_main_thread` requests, and [`ProcessReport`]
//! records what the plugin returned per block.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use serde_json::{json, Value};

use super::{Param, Plugin, Port};
use crate::host::Host;

impl Plugin {
    /// Processes `input` (one `Vec` per channel of the main input port; the other input ports
    /// get silence) in blocks of the given sizes on an audio thread, with `events` (time 0)
    /// in the first block. While it runs, the main thread answers `on_main_thread` requests.
    /// With `honour_sleep`, a plugin that returned `CLAP_PROCESS_SLEEP` is not called again
    /// (its output is silence) until a block of input is not silent, as a DAW skips idle
    /// tracks. Returns the stopped processor, the main output port's channels and what the
    /// plugin reported per block.
    pub fn process(
        &mut self,
        processor: StoppedPluginAudioProcessor<Host>,
        input: &[Vec<f32>],
        blocks: &[usize],
        events: &[(Param, f64)],
        honour_sleep: bool,
    ) -> Result<(
        StoppedPluginAudioProcessor<Host>,
        Vec<Vec<f32>>,
        ProcessReport,
    )> {
        let inputs = self.ports(true);
        let outputs = self.ports(false);
        if outputs.is_empty() {
            bail!("the plugin has no audio output port");
        }
        let main_in = inputs.iter().position(|p| p.main).unwrap_or(0);
        let main_out = outputs.iter().position(|p| p.main).unwrap_or(0);
        let main_in_channels = inputs.get(main_in).map(|p| p.channels as usize);
        if main_in_channels.is_some_and(|c| c != input.len()) {
            let port = &inputs[main_in];
            bail!(
                "main input port has {} channels, the input {}",
                port.channels,
                input.len()
            );
        }
        let events: Vec<ParamValueEvent> = events
            .iter()
            .map(|(p, v)| ParamValueEvent::new(0, p.id, Pckn::match_all(), *v))
            .collect();
        let run = BlockRun {
            inputs,
            outputs,
            main_in,
            main_out,
            input,
            blocks,
            events,
            honour_sleep,
        };
        let work = move || run.run(processor);

        let result = std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("clap-audio".into())
                .spawn_scoped(scope, work)?;
            while !worker.is_finished() {
                self.pump();
                std::thread::sleep(Duration::from_millis(1));
            }
            worker
                .join()
                .map_err(|_| anyhow!("the audio thread panicked"))?
        });
        self.pump();
        result
    }
}

/// One [`Plugin::process`] call as the audio thread runs it: the ports, the input, the block
/// sizes and the events of the first block.
struct BlockRun<'a> {
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    /// Index of the main input port (0 if none is flagged main).
    main_in: usize,
    /// Index of the main output port (0 if none is flagged main).
    main_out: usize,
    input: &'a [Vec<f32>],
    blocks: &'a [usize],
    events: Vec<ParamValueEvent>,
    honour_sleep: bool,
}

impl BlockRun<'_> {
    /// Starts processing, processes every block (or skips it while the plugin sleeps) and
    /// stops; returns the stopped processor, the main output and the report.
    fn run(
        self,
        processor: StoppedPluginAudioProcessor<Host>,
    ) -> Result<(
        StoppedPluginAudioProcessor<Host>,
        Vec<Vec<f32>>,
        ProcessReport,
    )> {
        let input = self.input;
        let max_block = self.blocks.iter().copied().max().unwrap_or(1);
        let frames: usize = self.blocks.iter().sum();
        let mut started = processor
            .start_processing()
            .map_err(|e| anyhow!("start_processing: {e}"))?;
        let mut bufs = Buffers::new(&self.inputs, &self.outputs, max_block, self.events.len());
        let main_channels = self.outputs[self.main_out].channels;
        let mut output = vec![Vec::with_capacity(frames); main_channels as usize];
        let mut pos = 0usize;
        let mut report = ProcessReport::default();
        let mut asleep = false;
        let all_channels = (1u64 << main_channels.min(63)) - 1;
        for (i, &n) in self.blocks.iter().enumerate() {
            if let Some(port) = bufs.in_bufs.get_mut(self.main_in) {
                for (buf, src) in port.iter_mut().zip(input) {
                    buf[..n].copy_from_slice(&src[pos..pos + n]);
                }
            }
            let silent_in = input
                .iter()
                .all(|c| c[pos..pos + n].iter().all(|&x| x == 0.0));
            if self.honour_sleep && asleep && silent_in && i > 0 {
                // Asleep: a DAW skips the plugin and its track is silent.
                for dst in output.iter_mut() {
                    dst.resize(dst.len() + n, 0.0);
                }
                report.skipped_blocks += 1;
                pos += n;
                continue;
            }
            let events: &[ParamValueEvent] = if i == 0 { &self.events } else { &[] };
            let (status, mask) = bufs.process(&mut started, i, n, pos, events, self.main_out)?;
            report.record(status, mask & all_channels == all_channels, pos);
            asleep = status == ProcessStatus::Sleep;
            for (dst, src) in output.iter_mut().zip(&bufs.out_bufs[self.main_out]) {
                dst.extend_from_slice(&src[..n]);
            }
            pos += n;
        }
        Ok((started.stop_processing(), output, report))
    }
}

/// The audio-thread buffers of a [`BlockRun`]: one `max_block`-frame buffer per channel of
/// every port, the port lists handed to `process`, and the event lists.
struct Buffers {
    in_bufs: Vec<Vec<Vec<f32>>>,
    out_bufs: Vec<Vec<Vec<f32>>>,
    in_ports: AudioPorts,
    out_ports: AudioPorts,
    in_events: EventBuffer,
    out_events: EventBuffer,
}

impl Buffers {
    fn new(inputs: &[Port], outputs: &[Port], max_block: usize, events: usize) -> Self {
        let alloc = |ports: &[Port]| -> Vec<Vec<Vec<f32>>> {
            ports
                .iter()
                .map(|p| vec![vec![0.0f32; max_block]; p.channels as usize])
                .collect()
        };
        let in_bufs = alloc(inputs);
        let out_bufs = alloc(outputs);
        let channel_total = |b: &Vec<Vec<Vec<f32>>>| b.iter().map(Vec::len).sum::<usize>();
        Self {
            in_ports: AudioPorts::with_capacity(channel_total(&in_bufs), in_bufs.len()),
            out_ports: AudioPorts::with_capacity(channel_total(&out_bufs), out_bufs.len()),
            in_bufs,
            out_bufs,
            in_events: EventBuffer::with_capacity(events),
            out_events: EventBuffer::new(),
        }
    }

    /// Runs the plugin's `process` on block `i`: the first `n` frames of the buffers, at frame
    /// `pos`, with `events`. Returns its status and the main output's `constant_mask`.
    fn process(
        &mut self,
        started: &mut StartedPluginAudioProcessor<Host>,
        i: usize,
        n: usize,
        pos: usize,
        events: &[ParamValueEvent],
        main_out: usize,
    ) -> Result<(ProcessStatus, u64)> {
        self.in_events.clear();
        for e in events {
            self.in_events.push(e);
        }
        self.out_events.clear();
        let audio_in = self
            .in_ports
            .with_input_buffers(self.in_bufs.iter_mut().map(|port| AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    port.iter_mut().map(|c| InputChannel::variable(&mut c[..n])),
                ),
            }));
        let mut audio_out = self
            .out_ports
            .with_output_buffers(self.out_bufs.iter_mut().map(|port| AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    port.iter_mut().map(|c| &mut c[..n]),
                ),
            }));
        let status = started
            .process(
                &audio_in,
                &mut audio_out,
                &self.in_events.as_input(),
                &mut self.out_events.as_output(),
                Some(pos as u64),
                None,
            )
            .map_err(|e| anyhow!("process (block {i}, frame {pos}): {e}"))?;
        let mask = audio_out
            .as_raw_buffers()
            .get(main_out)
            .map_or(0, |b| b.constant_mask);
        Ok((status, mask))
    }
}

/// What a plugin's `process` calls reported, per block.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProcessReport {
    /// Blocks per returned status: continue, continue-if-not-quiet, tail, sleep.
    pub statuses: [u64; 4],
    /// Blocks whose main output had every channel flagged constant (`constant_mask`).
    pub constant_blocks: u64,
    /// Frame at which the plugin first returned `CLAP_PROCESS_SLEEP`.
    pub first_sleep: Option<usize>,
    /// Frame of the last block processed after a sleep (the plugin woken up).
    pub last_wake: Option<usize>,
    /// Blocks not processed because the plugin was asleep (with `honour_sleep`).
    pub skipped_blocks: u64,
    slept: bool,
}

impl ProcessReport {
    fn record(&mut self, status: ProcessStatus, constant: bool, pos: usize) {
        let index = match status {
            ProcessStatus::Continue => 0,
            ProcessStatus::ContinueIfNotQuiet => 1,
            ProcessStatus::Tail => 2,
            ProcessStatus::Sleep => 3,
        };
        self.statuses[index] += 1;
        self.constant_blocks += u64::from(constant);
        if status == ProcessStatus::Sleep {
            self.first_sleep.get_or_insert(pos);
            self.slept = true;
        } else if self.slept {
            self.last_wake = Some(pos);
            self.slept = false;
        }
    }

    /// The report as JSON.
    pub fn json(&self) -> Value {
        json!({
            "continue": self.statuses[0],
            "continue_if_not_quiet": self.statuses[1],
            "tail": self.statuses[2],
            "sleep": self.statuses[3],
            "constant_blocks": self.constant_blocks,
            "first_sleep": self.first_sleep,
            "last_wake": self.last_wake,
            "skipped_blocks": self.skipped_blocks,
        })
    }
}

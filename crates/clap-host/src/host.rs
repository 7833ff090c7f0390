//! The host side of the CLAP conversation: the callbacks a plugin may call (clack-host's
//! handler types) and the extensions this host offers (log, latency, params, state,
//! audio-ports). Nothing here acts on a request beyond recording it: a batch renderer has no
//! user interface to refresh, and a restart request is reported rather than honoured.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use clack_extensions::audio_ports::{AudioPortRescanFlags, HostAudioPorts, HostAudioPortsImpl};
use clack_extensions::latency::{HostLatency, HostLatencyImpl};
use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamRescanFlags,
};
use clack_extensions::state::{HostState, HostStateImpl};
use clack_host::prelude::*;

/// The handler types of this host (clack-host's [`HostHandlers`]).
pub struct Host;

impl HostHandlers for Host {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostLog>()
            .register::<HostLatency>()
            .register::<HostParams>()
            .register::<HostState>()
            .register::<HostAudioPorts>();
    }
}

/// Callbacks a plugin may call from any thread: they only set flags, which the main thread
/// reads (see [`Shared::take_callback_request`]).
#[derive(Default)]
pub struct Shared {
    callback_requested: AtomicBool,
    restart_requests: AtomicU32,
    process_requests: AtomicU32,
    flush_requests: AtomicU32,
    log_messages: AtomicU32,
}

impl Shared {
    /// Whether the plugin asked for its `on_main_thread` callback since the last call (the
    /// flag is cleared).
    pub fn take_callback_request(&self) -> bool {
        self.callback_requested.swap(false, Ordering::SeqCst)
    }

    /// How often the plugin asked to be deactivated and reactivated (`request_restart`).
    pub fn restart_requests(&self) -> u32 {
        self.restart_requests.load(Ordering::SeqCst)
    }

    /// How often the plugin asked for a parameter flush (`params.request_flush`).
    pub fn flush_requests(&self) -> u32 {
        self.flush_requests.load(Ordering::SeqCst)
    }

    /// How many messages the plugin logged through the log extension (printed on stderr).
    pub fn log_messages(&self) -> u32 {
        self.log_messages.load(Ordering::SeqCst)
    }
}

impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {
        self.restart_requests.fetch_add(1, Ordering::SeqCst);
    }

    fn request_process(&self) {
        self.process_requests.fetch_add(1, Ordering::SeqCst);
    }

    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

impl HostLogImpl for Shared {
    fn log(&self, severity: LogSeverity, message: &str) {
        self.log_messages.fetch_add(1, Ordering::SeqCst);
        eprintln!("[plugin {severity:?}] {message}");
    }
}

impl HostParamsImplShared for Shared {
    fn request_flush(&self) {
        self.flush_requests.fetch_add(1, Ordering::SeqCst);
    }
}

/// Callbacks a plugin may only call on the main thread: counted, so that the command's JSON
/// can say what the plugin announced.
#[derive(Default)]
pub struct MainThread {
    latency_changed: Cell<u32>,
    state_dirty: Cell<u32>,
    param_rescans: Cell<u32>,
    audio_port_rescans: Cell<u32>,
}

impl MainThread {
    /// How often the plugin called `latency.changed`.
    pub fn latency_changed(&self) -> u32 {
        self.latency_changed.get()
    }

    /// How often the plugin called `state.mark_dirty`.
    pub fn state_dirty(&self) -> u32 {
        self.state_dirty.get()
    }

    /// How often the plugin called `params.rescan`.
    pub fn param_rescans(&self) -> u32 {
        self.param_rescans.get()
    }

    /// How often the plugin called `audio_ports.rescan`.
    pub fn audio_port_rescans(&self) -> u32 {
        self.audio_port_rescans.get()
    }
}

impl MainThreadHandler<'_> for MainThread {}

impl HostLatencyImpl for MainThread {
    fn changed(&self) {
        self.latency_changed.set(self.latency_changed.get() + 1);
    }
}

impl HostParamsImplMainThread for MainThread {
    fn rescan(&self, _flags: ParamRescanFlags) {
        self.param_rescans.set(self.param_rescans.get() + 1);
    }

    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {}
}

impl HostStateImpl for MainThread {
    fn mark_dirty(&self) {
        self.state_dirty.set(self.state_dirty.get() + 1);
    }
}

impl HostAudioPortsImpl for MainThread {
    fn is_rescan_flag_supported(&self, _flag: AudioPortRescanFlags) -> bool {
        false
    }

    fn rescan(&self, _flags: AudioPortRescanFlags) {
        self.audio_port_rescans
            .set(self.audio_port_rescans.get() + 1);
    }
}

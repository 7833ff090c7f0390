"""pytest configuration of the plugin host tests (tests/hosts/test_*.py): the command-line
options naming the bundles under test, session fixtures giving their paths, the `report`
fixture, the run order, and the terminal summary.

    python3 -m pytest tests/hosts --vst3 PATH/XodVox.vst3 [--debug-vst3 PATH/XodVox.vst3] \
        [--clap PATH/XodVox.clap --clap-host PATH/xodvox-clap-host] \
        [--standalone PATH/XodVox] [--require-ardour] [-k NAME]

`--vst3` is required to run tests (not to collect them). A test whose input is not given
is skipped, saying which option is missing; with `--require-ardour` a missing Ardour fails
test_ardour_session instead. Each test hands its one-line summary (the measured numbers
that docs/ cite) to `report`; the terminal summary lists every test's line as
`ok   NAME (T s): LINE` (`SKIP NAME: REASON`, `FAIL NAME (T s): ERROR`) and closes with
`plugin hosts: N passed, M failed` (M counts failures and errors; `, K skipped` when any
were skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostlib import ClapHost, Report

# The run order (run_hosts.py's): pedalboard, DawDreamer and the ctypes VST3 host load the
# same library into this one process, so the order is kept rather than left to the
# modules' names. Tests not listed run after these, in collection order.
RUN_ORDER = (
    "test_parameters",
    "test_pitch_up_octave",
    "test_pitch_down_fifth",
    "test_fine_tune",
    "test_sample_rates",
    "test_mono",
    "test_neural_engine",
    "test_mix_zero",
    "test_bypass",
    "test_impulse_pedalboard",
    "test_impulse_dawdreamer",
    "test_pitch_dawdreamer",
    "test_streaming_blocks",
    "test_automation_no_click",
    "test_nan_input",
    "test_state_roundtrip",
    "test_state_missing_model",
    "test_state_dawdreamer",
    "test_model_env",
    "test_assert_process_allocs",
    "test_clap_entry_symbol",
    "test_clap_parameters",
    "test_clap_pitch",
    "test_clap_latency",
    "test_clap_blocks",
    "test_clap_neural_offline",
    "test_clap_state",
    "test_standalone_dummy_backend",
    "test_vst3_odd_sample_rates",
    "test_vst3_bypass_persistence",
    "test_vst3_silence_flags",
    "test_clap_odd_sample_rates",
    "test_clap_sleep",
    "test_vst3_latency_before_activation",
    "test_clap_latency_before_activation",
    "test_ardour_session",
)

# The user property that carries a test's summary line (also in JUnit XML).
SUMMARY = "summary"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xodvox", "XodVox plugin host tests")
    group.addoption("--vst3", help="release XodVox.vst3 bundle")
    group.addoption("--debug-vst3", help="debug bundle built with assert_process_allocs")
    group.addoption("--clap", help="XodVox.clap bundle")
    group.addoption(
        "--clap-host",
        help="xodvox-clap-host binary (cargo build --release -p xodvox-clap-host), "
        "the CLAP host of the test_clap_* tests",
    )
    group.addoption("--standalone", help="XodVox standalone binary")
    group.addoption(
        "--require-ardour",
        action="store_true",
        help="fail (not skip) the Ardour test when Ardour is missing",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(HostSummary(), "xodvox-host-summary")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(RUN_ORDER)}
    items.sort(key=lambda item: rank.get(item.name, len(rank)))


# Set when the run stopped for want of `--vst3` (no summary then).
NO_VST3 = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    # run_hosts.py's `--vst3 is required`: a usage error before any test runs.
    config = session.config
    if session.items and not config.option.collectonly and not config.option.vst3:
        config.stash[NO_VST3] = True
        raise pytest.UsageError("--vst3 is required")


# ---------------------------------------------------------------- fixtures


def given(config: pytest.Config, flag: str) -> str:
    """The path given as `--FLAG`; the test skips (`no --FLAG given`) without it."""
    path = getattr(config.option, flag.replace("-", "_"))
    if not path:
        pytest.skip(f"no --{flag} given")
    return str(path)


@pytest.fixture(scope="session")
def vst3(pytestconfig: pytest.Config) -> str:
    """The release VST3 bundle (`--vst3`)."""
    path = pytestconfig.option.vst3
    if not path:
        pytest.fail("--vst3 is required")
    return path


@pytest.fixture(scope="session")
def debug_vst3(pytestconfig: pytest.Config) -> str:
    """The VST3 bundle built with assert_process_allocs (`--debug-vst3`)."""
    return given(pytestconfig, "debug-vst3")


@pytest.fixture(scope="session")
def clap(pytestconfig: pytest.Config) -> str:
    """The CLAP bundle (`--clap`)."""
    return given(pytestconfig, "clap")


@pytest.fixture(scope="session")
def clap_host_path(pytestconfig: pytest.Config, clap: str) -> str:
    """The xodvox-clap-host binary (`--clap-host`); needs `--clap` too."""
    path = pytestconfig.option.clap_host
    if not path:
        pytest.skip(
            "no --clap-host given (cargo build --release -p xodvox-clap-host; "
            "scripts/test-plugin passes it)"
        )
    return path


@pytest.fixture
def clap_host(clap_host_path: str, clap: str, tmp_path: Path) -> ClapHost:
    """The CLAP bundle in xodvox-clap-host, rendering in this test's `tmp_path`."""
    return ClapHost(clap_host_path, clap, tmp_path / "clap")


@pytest.fixture(scope="session")
def standalone(pytestconfig: pytest.Config) -> str:
    """The standalone binary (`--standalone`)."""
    return given(pytestconfig, "standalone")


@pytest.fixture(scope="session")
def require_ardour(pytestconfig: pytest.Config) -> bool:
    """`--require-ardour`: a missing Ardour fails the Ardour test instead of skipping it."""
    return bool(pytestconfig.option.require_ardour)


@pytest.fixture
def report(record_property: Callable[[str, object], None]) -> Report:
    """Records the test's one-line summary: printed, kept as the user property `summary`
    and listed in the terminal summary."""

    def record(line: str) -> None:
        print(line, flush=True)
        record_property(SUMMARY, line)

    return record


# ---------------------------------------------------------------- terminal summary


@dataclass
class Outcome:
    status: str = "ok"  # "ok", "SKIP" or "FAIL"
    seconds: float = 0.0
    line: str = ""


class HostSummary:
    """Collects every test's outcome and summary line, in run order, for the terminal
    summary (run_hosts.py's output)."""

    def __init__(self) -> None:
        self.tests: dict[str, Outcome] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.rsplit("::", 1)[-1]
        test = self.tests.setdefault(name, Outcome())
        test.seconds += report.duration
        if test.status != "ok":
            return  # the first skip or failure is the one reported
        if report.skipped:
            test.status = "SKIP"
            test.line = skip_reason(report)
        elif report.failed:
            test.status = "FAIL"
            test.line = failure_line(report)
        elif report.when == "call":
            test.line = dict(report.user_properties).get(SUMMARY, "")

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, config: pytest.Config
    ) -> None:
        if config.option.collectonly or config.stash.get(NO_VST3, False):
            return
        tw = terminalreporter
        if self.tests:
            tw.write_sep("-", "plugin hosts")
        counts = {"ok": 0, "SKIP": 0, "FAIL": 0}
        for name, test in self.tests.items():
            counts[test.status] += 1
            if test.status == "SKIP":
                tw.write_line(f"SKIP {name}: {test.line}")
            else:
                status = f"{test.status:<4}"
                tw.write_line(f"{status} {name} ({test.seconds:.1f} s): {test.line}")
        line = f"plugin hosts: {counts['ok']} passed, {counts['FAIL']} failed"
        if counts["SKIP"]:
            line += f", {counts['SKIP']} skipped"
        tw.write_line(line)


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def failure_line(report: pytest.TestReport) -> str:
    """The failure's message, first line (pytest prints the traceback above)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if report.when == "call" else f"error in {report.when}: {first}"

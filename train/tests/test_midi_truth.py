"""MIDI ground-truth pairs: pieces, MIDI files, FluidSynth re-renders, the build and ``mix``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from conftest import require

from xodvox_train.data import ManifestError, load_manifest, manifest_row
from xodvox_train.midi_compose import DRUM_CHANNEL, GM_SOUNDFONTS, Note, Piece, compose
from xodvox_train.midi_truth import (
    SAMPLE_RATE,
    MidiTruthOptions,
    build,
    draw_task,
    midi_file,
    render,
)
from xodvox_train.mix import mix

FLUIDR3 = GM_SOUNDFONTS[0]


@pytest.fixture
def fluidsynth() -> None:
    """fluidsynth and the FluidR3 soundfont: skipped without them, failed under CI."""
    require(
        shutil.which("fluidsynth") is not None and Path(FLUIDR3).is_file(),
        "fluidsynth and fluid-soundfont-gm (scripts/setup installs them)",
    )


needs_fluidsynth = pytest.mark.usefixtures("fluidsynth")


def test_pieces_are_deterministic_and_cover_every_family() -> None:
    assert compose(3, 17) == compose(3, 17)
    assert compose(3, 17) != compose(3, 18)
    families = {compose(0, i).family for i in range(60)}
    assert families == {"ensemble", "solo", "drums"}
    for i in range(60):
        piece = compose(0, i)
        assert piece.notes, i
        assert all(0 <= n.start < piece.beats for n in piece.notes)
        assert all(n.duration > 0 for n in piece.notes)


def test_drum_pieces_are_only_stretched() -> None:
    tasks = [draw_task(0, i, drums=True) for i in range(200)]
    assert all(t.pitch_semitones == 0.0 for t in tasks)
    assert all(0.5 <= t.stretch <= 2.0 for t in tasks)
    tonal = [draw_task(0, i, drums=False) for i in range(400)]
    pitched = [t for t in tonal if t.pitch_semitones != 0.0]
    assert 0.5 < len(pitched) / len(tonal) < 0.8
    assert any(t.pitch_semitones != round(t.pitch_semitones) for t in pitched)
    assert all(abs(t.pitch_semitones) <= 12 for t in pitched)


def _piece(notes: tuple[Note, ...], drums: bool = False) -> Piece:
    channel = DRUM_CHANNEL if drums else 0
    programs = {channel: (0, 0)}
    kit = frozenset({channel}) if drums else frozenset()
    return Piece("drums" if drums else "solo", 120.0, 4.0, FLUIDR3, programs, notes, kit)


def test_midi_file_scales_the_tempo_and_transposes_only_tonal_notes() -> None:
    piece = _piece((Note(0.0, 1.0, 60, 100, 0), Note(1.0, 1.0, 64, 100, 0)))
    song = midi_file(piece, 1.5, 7.25, 10.0)
    messages = list(song.tracks[0])
    tempo = next(m.tempo for m in messages if m.type == "set_tempo")
    assert tempo == round(60e6 / 120.0 * 1.5)
    assert [m.note for m in messages if m.type == "note_on"] == [67, 71]
    wheel = next(m.pitch for m in messages if m.type == "pitchwheel")
    assert wheel == round(0.25 / 2 * 8191)
    assert song.length == pytest.approx(10.0, abs=0.01)
    drums = _piece((Note(0.0, 0.5, 36, 100, DRUM_CHANNEL),), drums=True)
    kit = list(midi_file(drums, 1.0, 5.0, 3.0).tracks[0])
    assert [m.note for m in kit if m.type == "note_on"] == [36]
    assert not any(m.type == "pitchwheel" for m in kit)


def _onsets(x: np.ndarray, count: int) -> np.ndarray:
    e = np.abs(x).sum(axis=1)
    threshold, found, i = 0.1 * e.max(), [], 0
    while i < len(e) and len(found) < count:
        if e[i] > threshold:
            found.append(i)
            i += 4000
        else:
            i += 1
    return np.array(found)


@needs_fluidsynth
@pytest.mark.parametrize("stretch", [0.8, 2.0])
def test_a_stretched_render_plays_every_hit_at_stretch_times_its_time(stretch: float) -> None:
    beats = (0.5, 1.5, 2.5, 3.5)
    piece = _piece(tuple(Note(b, 0.1, 37, 110, DRUM_CHANNEL) for b in beats), drums=True)
    plain = _onsets(render(piece, 1.0, 0.0, 3 * SAMPLE_RATE), 4)
    slow = _onsets(render(piece, stretch, 0.0, round(3 * SAMPLE_RATE * stretch)), 4)
    exact = np.array([b * 0.5 * SAMPLE_RATE for b in beats])
    # each render starts a hit at its MIDI time plus the sample's own onset, on 64-sample blocks
    offset_plain, offset_slow = plain - exact, slow - stretch * exact
    assert np.all((offset_plain > 0) & (offset_plain < 600)), offset_plain
    assert np.all(np.abs(offset_slow - offset_plain) <= 130), (offset_plain, offset_slow)


def _peak_hz(x: np.ndarray, near_hz: float) -> float:
    """The strongest frequency within 1.5 semitones of ``near_hz`` (the fundamental)."""
    mono = x.mean(axis=1)[SAMPLE_RATE // 10 : SAMPLE_RATE]
    size = 16 * len(mono)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono)), size))
    freqs = np.fft.rfftfreq(size, 1 / SAMPLE_RATE)
    band = (freqs > near_hz * 2 ** (-1.5 / 12)) & (freqs < near_hz * 2 ** (1.5 / 12))
    return float(freqs[band][np.argmax(spectrum[band])])


@needs_fluidsynth
def test_a_transposed_render_moves_the_pitch_by_the_semitones_including_cents() -> None:
    piece = _piece((Note(0.0, 3.0, 69, 100, 0),))
    piece = Piece("solo", 120.0, 4.0, FLUIDR3, {0: (0, 73)}, piece.notes)  # flute, A4
    base = _peak_hz(render(piece, 1.0, 0.0, 2 * SAMPLE_RATE), 440.0)
    for pitch in (7.0, -5.0, 3.5):
        expected = base * 2 ** (pitch / 12)
        moved = _peak_hz(render(piece, 1.0, pitch, 2 * SAMPLE_RATE), expected)
        cents = 1200 * np.log2(moved / base)
        assert abs(cents - 100 * pitch) < 25, (pitch, base, moved)


@needs_fluidsynth
def test_build_writes_a_manifest_training_reads_and_resumes_without_rendering(
    tmp_path: Path,
) -> None:
    options = MidiTruthOptions(pairs=3, seed=5)
    if any(not Path(compose(5, i).soundfont).is_file() for i in (0, 1_000_000_000)):
        pytest.skip("a soundfont of these pieces is not installed")
    manifest, meter = build(tmp_path, options, progress=False)
    loaded = load_manifest(manifest, verify_hashes=True)
    assert [e.split for e in loaded.entries] == ["test", "train", "val"]
    for entry in loaded.entries:
        assert entry.num_frames_target == round(entry.num_frames_input * entry.stretch)
        assert entry.style == "natural"
    assert meter.rendered == 3
    before = manifest.read_bytes()
    _, again = build(tmp_path, options, progress=False)
    assert again.rendered == 0
    assert manifest.read_bytes() == before
    with pytest.raises(ValueError, match="made with"):
        build(tmp_path, MidiTruthOptions(pairs=3, seed=6), progress=False)


def _tiny_manifest(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True)
    sf.write(folder / "in.wav", np.zeros((1000, 2), np.float32), SAMPLE_RATE, subtype="FLOAT")
    sf.write(folder / "out.wav", np.zeros((2000, 2), np.float32), SAMPLE_RATE, subtype="FLOAT")
    row = manifest_row(
        entry_id="train-000000",
        split="train",
        root=folder,
        input_path=folder / "in.wav",
        target_path=folder / "out.wav",
        stretch=2.0,
        pitch_semitones=0.0,
        style="natural",
        generator="test",
        tool_version="0",
        source=name,
        licence="CC0-1.0",
    )
    path = folder / "manifest.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return path


def test_mix_combines_manifests_with_unique_ids_and_paths_that_resolve(tmp_path: Path) -> None:
    a = _tiny_manifest(tmp_path / "truth", "a")
    b = _tiny_manifest(tmp_path / "midi", "b")
    out = tmp_path / "mixes" / "both.jsonl"
    assert mix(out, [a, b]) == 2
    loaded = load_manifest(out)
    assert [e.id for e in loaded.entries] == ["truth-train-000000", "midi-train-000000"]
    assert loaded.audio_path(loaded.entries[1].input).resolve() == (tmp_path / "midi/in.wav")
    with pytest.raises(ValueError, match="also an input"):
        mix(a, [a, b])


def test_mix_refuses_two_folders_of_the_same_name(tmp_path: Path) -> None:
    a = _tiny_manifest(tmp_path / "x" / "set", "a")
    b = _tiny_manifest(tmp_path / "y" / "set", "b")
    with pytest.raises(ManifestError, match="clash"):
        mix(tmp_path / "m.jsonl", [a, b])


def test_mido_reads_back_what_midi_file_writes(tmp_path: Path) -> None:
    piece = compose(0, 1)
    path = tmp_path / "p.mid"
    midi_file(piece, 1.0, 0.0, piece.seconds + 1.0).save(str(path))
    back = mido.MidiFile(str(path))
    notes = [m for m in back.tracks[0] if m.type == "note_on"]
    assert len(notes) == sum(1 for n in piece.notes if 0 <= n.pitch <= 127)


@needs_fluidsynth
def test_a_piece_the_soundfont_cannot_play_at_the_new_pitch_is_refused() -> None:
    from xodvox_train.midi_truth import MidiTask, MidiTruthError, render_pair

    # an alto sax (GM 66) has no samples three octaves up: the reference would be silent
    piece = Piece("solo", 120.0, 4.0, FLUIDR3, {0: (0, 65)}, (Note(0.0, 2.0, 72, 100, 0),))
    source, reference = render_pair(piece, MidiTask(1.0, 5.0), -3.0)
    assert np.abs(source).max() > 0.1
    assert max(np.abs(source).max(), np.abs(reference).max()) == pytest.approx(0.9 * 10 ** (-0.15))
    high = Piece("solo", 120.0, 4.0, FLUIDR3, {0: (0, 65)}, (Note(0.0, 2.0, 84, 100, 0),))
    with pytest.raises(MidiTruthError):
        render_pair(high, MidiTask(1.0, 24.0), 0.0)


def test_mix_repeats_the_train_rows_of_a_weighted_manifest(tmp_path: Path) -> None:
    a = _tiny_manifest(tmp_path / "truth", "a")
    b = _tiny_manifest(tmp_path / "midi", "b")
    out = tmp_path / "both.jsonl"
    assert mix(out, [a, b], [1, 3]) == 4
    ids = [e.id for e in load_manifest(out).entries]
    assert ids == [
        "truth-train-000000",
        "midi-train-000000",
        "midi-r2-train-000000",
        "midi-r3-train-000000",
    ]
    with pytest.raises(ValueError, match="times"):
        mix(out, [a, b], [1])

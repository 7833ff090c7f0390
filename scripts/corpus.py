#!/usr/bin/env python3
"""Builds the XodVox demo corpus: varied 48 kHz stereo material with a licence for every file.

Usage: scripts/corpus OUT   (run scripts/corpus-deps first)

Categories (each file is one row of OUT/corpus.jsonl, see docs/dataset.md):
  music       music21 scores (chorales, string quartets, a rag) with each part on its own channel
              and instrument, rendered dry with fluidsynth by two soundfonts (FluidR3 GM and
              MuseScore General): the two renders of one score share a split `group`;
  game        excerpts of the produced orchestral/folk music of wesnoth-1.16-music;
  monophonic  single melodic lines from music21 (fiddle tunes, chorale voices) on solo
              instruments, and sonic-pi guitar/bass/ambient samples;
  drums       hydrogen drum kits (each kit's one-shots in a row) and sonic-pi loops;
  speech      espeak-ng (several voices), festival (CMU SLT HTS) and the asterisk prompts (real
              speech, 8 kHz: nothing above 4 kHz; flagged in the row's `notes`).

Deterministic: the same packages give byte-identical files (fluidsynth renders are repeatable,
SoX runs with -R). Resumable: each file is written under a temporary name and renamed; existing
files are kept. Every external program runs under a timeout (a score whose MIDI would make
fluidsynth render forever is skipped, not waited for).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RATE = 48000
SOUNDFONTS = {
    "fluidr3": ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm", "MIT"),
    "musescore": (
        "/usr/share/sounds/sf3/MuseScore_General.sf3",
        "musescore-general-soundfont-small",
        "MIT",
    ),
}
WESNOTH = Path("/usr/share/games/wesnoth/1.16/data/core/music")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
ASTERISK = next(
    (p for p in map(Path, ["/usr/share/asterisk/sounds/en", "/usr/share/asterisk/sounds/en_US_f_Allison"])
     if p.is_dir()),
    Path("/usr/share/asterisk/sounds/en"),
)

# (music21 corpus path, instruments per part as GM programs, seconds kept)
SCORES = [
    ("bach/bwv66.6", [73, 68, 71, 70], 60),  # woodwind quartet
    ("bach/bwv7.7", [40, 40, 41, 42], 60),  # string quartet
    ("bach/bwv10.7", [19, 19, 19, 19], 60),  # organ
    ("bach/bwv101.7", [56, 60, 57, 58], 60),  # brass
    ("bach/bwv26.6", [52, 52, 52, 52], 60),  # choir aahs
    ("bach/bwv269", [0, 0, 0, 0], 60),  # piano
    ("haydn/opus74no1/movement1", [40, 40, 41, 42], 90),
    ("mozart/k80/movement1", [40, 40, 41, 42], 90),
    ("beethoven/opus18no1/movement2.mxl", [40, 40, 41, 42], 90),
    ("joplin/maple_leaf_rag", [0, 0], 90),
]
# (music21 path, part index or None for a monophonic tune, GM program, seconds kept)
MELODIES = [
    ("ryansMammoth/BanjoReel", None, 110, 40),  # fiddle
    ("ryansMammoth/FishersHornpipe", None, 73, 40),  # flute
    ("bach/bwv66.6", 0, 71, 40),  # clarinet, soprano line
    ("bach/bwv7.7", 3, 42, 40),  # cello, bass line
    ("bach/bwv10.7", 0, 56, 40),  # trumpet
    ("bach/bwv101.7", 1, 68, 40),  # oboe, alto line
    ("bach/bwv26.6", 3, 70, 40),  # bassoon
    ("bach/bwv269", 0, 65, 40),  # alto sax
]
WESNOTH_TRACKS = [
    "battle-epic.ogg",
    "elvish-theme.ogg",
    "knalgan_theme.ogg",
    "loyalists.ogg",
    "northerners.ogg",
    "traveling_minstrels.ogg",
    "wanderer.ogg",
    "love_theme.ogg",
]
WESNOTH_START, WESNOTH_SECONDS = 20, 45
KIT_LICENCES = {
    "Audiophob": "CC0-1.0",
    "BJA_Pacific": "CC-BY-SA-3.0-US",
    "ColomboAcousticDrumkit": "GPL-2.0-or-later",
    "ElectricEmpireKit": "GPL-2.0-or-later",
    "ForzeeStereo": "GPL-2.0-only",
    "Gimme A Hand 1.0": "GPL-2.0-only",
    "HardElectro1": "GPL-2.0-or-later",
    "Millo-Drums_v.1": "GPL-2.0-only",
    "Millo_MultiLayered2": "GPL-2.0-only",
    "Millo_MultiLayered3": "GPL-2.0-only",
    "The Black Pearl 1.0": "GPL-2.0-only",
    "VariBreaks": "GPL-2.0-or-later",
    "circAfrique v4": "CC-BY-SA-3.0",
    "rumpf_kit_z01_h2": "CC-BY-3.0",
}
KIT_SECONDS, KIT_GAP = 40, 0.25
SONIC_PI_PREFIXES = {
    "loop_": "drums",
    "guit_": "monophonic",
    "bass_": "monophonic",
    "ambi_": "monophonic",
}
TEXTS = [
    "The quick brown fox jumps over the lazy dog, while the band plays a slow waltz in the square.",
    "Time stretching changes the duration of a sound without changing its pitch; pitch shifting does the opposite.",
    "Seven sailors sang softly as the ship sailed south past the silent cliffs of the northern isles.",
    "Please remember to save your work before you close the window, otherwise the changes will be lost.",
    "A phase vocoder analyses short overlapping frames, changes their spacing, and puts them back together.",
    "She measured the bright tones of the bells at noon, at dusk, and once again at midnight.",
]
ESPEAK_VOICES = ["en", "en-us", "en+f3", "en+m3", "en-gb-x-rp", "en+f5"]
TIMEOUT = 300


@dataclass
class Row:
    """One corpus file (a row of corpus.jsonl)."""

    file: str
    package: str
    licence: str
    category: str
    group: str
    source: str
    notes: str = ""


def log(msg: str) -> None:
    print(f"corpus: {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], timeout: float = TIMEOUT) -> None:
    """Runs a program; raises RuntimeError with its stderr tail on failure or timeout."""
    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{argv[0]} ran longer than {timeout:.0f} s") from e
    if r.returncode != 0:
        tail = r.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:3])}... failed: {' | '.join(tail)}")


def finish(sources: list[str], out: Path, effects: list[str], gain: bool = True) -> None:
    """SoX: sources (concatenated) → 48 kHz stereo 24-bit FLAC at `out` (temp + rename)."""
    tmp = out.with_name(out.stem + ".partial.flac")
    argv = ["sox", "-R", "-V1", *sources, "-b", "24", "-c", "2", str(tmp), *effects]
    argv += ["rate", "-v", str(RATE)]
    if gain:
        argv += ["gain", "-n", "-3"]
    run(argv)
    os.replace(tmp, out)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def fix_midi(src: Path, dst: Path, programs: list[int]) -> None:
    """Gives every part its own channel and program, drops zero-length (grace) notes whose
    note_off comes before their note_on, and ends every note that never ends."""
    import mido

    mid = mido.MidiFile(src)
    channels = [c for c in range(16) if c != 9]
    part = 0
    for track in mid.tracks:
        if not any(m.type == "note_on" for m in track):
            continue
        ch = channels[part % len(channels)]
        prog = programs[part % len(programs)] if programs else 0
        part += 1
        events, t = [], 0
        for m in track:
            t += m.time
            events.append((t, m))
        active: dict[int, int] = {}
        orphan_offs: set[tuple[int, int]] = set()
        kept: list[tuple[int, object]] = [(0, mido.Message("program_change", channel=ch, program=prog))]
        end_tick = 0
        for t, m in events:
            if m.type == "program_change":
                continue
            if m.type == "end_of_track":
                end_tick = t
                continue
            if m.type in ("note_on", "note_off"):
                on = m.type == "note_on" and m.velocity > 0
                if on:
                    if (m.note, t) in orphan_offs:  # zero-length grace note: drop it
                        orphan_offs.discard((m.note, t))
                        continue
                    active[m.note] = active.get(m.note, 0) + 1
                elif active.get(m.note, 0) > 0:
                    active[m.note] -= 1
                else:
                    orphan_offs.add((m.note, t))
                    continue
            if hasattr(m, "channel"):
                m = m.copy(channel=ch)
            kept.append((t, m))
        last = max([t for t, _ in kept] + [end_tick])
        for note, n in sorted(active.items()):
            for _ in range(n):
                kept.append((last, mido.Message("note_off", channel=ch, note=note, velocity=0)))
        track.clear()
        prev = 0
        for t, m in kept:
            track.append(m.copy(time=t - prev))
            prev = t
        track.append(mido.MetaMessage("end_of_track", time=0))
    mid.save(dst)


def render_midi(midi: Path, soundfont: str, wav: Path, expected_seconds: float) -> None:
    timeout = max(30.0, expected_seconds / 5 + 30)
    run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(RATE),
         "-F", str(wav), "-T", "wav", soundfont, str(midi)], timeout=timeout)


def score_midi(path: str, part: int | None, work: Path, programs: list[int]) -> tuple[Path, float]:
    from music21 import corpus

    score = corpus.parse(path)
    if part is not None:
        score = score.parts[part]
    try:
        score = score.expandRepeats()
    except Exception:  # noqa: BLE001 - music21 raises several types (ExpanderException, ...)
        pass
    raw = work / "raw.mid"
    score.write("midi", fp=str(raw))
    fixed = work / "fixed.mid"
    fix_midi(raw, fixed, programs)
    import mido

    return fixed, float(mido.MidiFile(fixed).length)


def build(out: Path) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="xodvox-corpus-") as tmp:
        work = Path(tmp)

        def want(rel: str) -> Path | None:
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            return None if path.exists() else path

        # music: every score with both soundfonts
        for path, programs, seconds in SCORES:
            name = slug(path.replace(".mxl", ""))
            targets = {sf: f"music/{name}-{sf}.flac" for sf in SOUNDFONTS}
            todo = {sf: p for sf, rel in targets.items() if (p := want(rel))}
            try:
                if todo:
                    midi, length = score_midi(path, None, work, programs)
                    for sf, dst in todo.items():
                        wav = work / f"{sf}.wav"
                        render_midi(midi, SOUNDFONTS[sf][0], wav, length)
                        finish([str(wav)], dst, ["trim", "0", str(seconds), "fade", "0", "-0", "0.5"])
                        log(f"music {dst.name}")
            except Exception as e:  # noqa: BLE001
                log(f"skipped score {path}: {e}")
                continue
            for sf, rel in targets.items():
                if (out / rel).exists():
                    rows.append(Row(rel, f"python3-music21 (PyPI), {SOUNDFONTS[sf][1]}, fluidsynth",
                                    f"BSD-3-Clause AND {SOUNDFONTS[sf][2]}", "music", f"score:{path}",
                                    f"music21 corpus {path}, programs {programs}, rendered with "
                                    f"{Path(SOUNDFONTS[sf][0]).name}, first {seconds} s"))
        # monophonic lines, alternating soundfonts
        for i, (path, part, program, seconds) in enumerate(MELODIES):
            sf = list(SOUNDFONTS)[i % 2]
            rel = f"monophonic/{slug(path)}-part{part if part is not None else 0}-gm{program}-{sf}.flac"
            dst = want(rel)
            try:
                if dst:
                    midi, length = score_midi(path, part, work, [program])
                    wav = work / "mono.wav"
                    render_midi(midi, SOUNDFONTS[sf][0], wav, length)
                    finish([str(wav)], dst, ["trim", "0", str(seconds), "fade", "0", "-0", "0.5"])
                    log(f"monophonic {dst.name}")
            except Exception as e:  # noqa: BLE001
                log(f"skipped melody {path}: {e}")
                continue
            rows.append(Row(rel, f"python3-music21 (PyPI), {SOUNDFONTS[sf][1]}, fluidsynth",
                            f"BSD-3-Clause AND {SOUNDFONTS[sf][2]}", "monophonic", f"score:{path}",
                            f"music21 corpus {path} part {part}, GM program {program}, "
                            f"{Path(SOUNDFONTS[sf][0]).name}, first {seconds} s"))
        # game music excerpts
        for track in WESNOTH_TRACKS:
            src = WESNOTH / track
            rel = f"game/wesnoth-{slug(Path(track).stem)}.flac"
            if (dst := want(rel)) and src.exists():
                finish([str(src)], dst, ["trim", str(WESNOTH_START), str(WESNOTH_SECONDS),
                                          "fade", "0.2", "-0", "0.5"], gain=False)
                log(f"game {dst.name}")
            if (out / rel).exists():
                rows.append(Row(rel, "wesnoth-1.16-music", "GPL-2.0-or-later", "game", rel,
                                f"{src}, {WESNOTH_START}-{WESNOTH_START + WESNOTH_SECONDS} s"))
        # drum kits: one-shots in a row
        for kit in sorted(KIT_LICENCES):
            folder = HYDROGEN / kit
            files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".wav", ".flac"))
            rel = f"drums/hydrogen-{slug(kit)}.flac"
            if (dst := want(rel)) and files:
                pieces = []
                for j, f in enumerate(files):
                    piece = work / f"hit{j:04d}.wav"
                    run(["sox", "-R", "-V1", str(f), "-b", "24", "-c", "2", "-r", str(RATE), str(piece),
                         "trim", "0", "1.5", "pad", "0", str(KIT_GAP)])
                    pieces.append(str(piece))
                finish(pieces, dst, ["trim", "0", str(KIT_SECONDS)])
                for p in pieces:
                    os.remove(p)
                log(f"drums {dst.name}")
            if (out / rel).exists():
                rows.append(Row(rel, "hydrogen-drumkits", KIT_LICENCES[kit], "drums", rel,
                                f"{folder}: {len(files)} one-shots (first 1.5 s each, "
                                f"{KIT_GAP} s apart), first {KIT_SECONDS} s"))
        # sonic-pi samples
        licences = sonic_pi_licences()
        for f in sorted(SONIC_PI.glob("*.flac")):
            category = next((c for p, c in SONIC_PI_PREFIXES.items() if f.name.startswith(p)), None)
            if category is None:
                continue
            rel = f"{category}/sonic-pi-{slug(f.stem)}.flac"
            if dst := want(rel):
                finish([str(f)], dst, [], gain=False)
            rows.append(Row(rel, "sonic-pi-samples", licences.get(f.name, "CC0-1.0"), category, rel,
                            str(f)))
        # speech
        for i, voice in enumerate(ESPEAK_VOICES):
            text = TEXTS[i % len(TEXTS)] + " " + TEXTS[(i + 1) % len(TEXTS)]
            rel = f"speech/espeak-{slug(voice)}.flac"
            if dst := want(rel):
                wav = work / "espeak.wav"
                run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text])
                finish([str(wav)], dst, [])
            rows.append(Row(rel, "espeak-ng", "GPL-3.0-or-later", "speech", rel,
                            f"espeak-ng -v {voice} -s 150 '{text}'", "synthetic speech, 22.05 kHz source"))
        for i in range(0, len(TEXTS), 2):
            text = TEXTS[i] + " " + TEXTS[i + 1]
            rel = f"speech/festival-slt-{i // 2}.flac"
            if dst := want(rel):
                txt, wav = work / "t.txt", work / "festival.wav"
                txt.write_text(text)
                run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", str(wav), str(txt)])
                finish([str(wav)], dst, [])
            rows.append(Row(rel, "festival, festvox-us-slt-hts", "LicenseRef-CMU-ARCTIC-BSD-style",
                            "speech", rel, f"text2wave (voice_cmu_us_slt_arctic_hts) '{text}'",
                            "synthetic speech, 32 kHz source"))
        prompts = sorted(ASTERISK.glob("*.wav"))
        per_file = 40
        for k in range(0, min(len(prompts), 2 * per_file), per_file):
            chunk = prompts[k : k + per_file]
            rel = f"speech/asterisk-prompts-{k // per_file}.flac"
            if (dst := want(rel)) and chunk:
                finish([str(p) for p in chunk], dst, [])
            if (out / rel).exists():
                rows.append(Row(rel, "asterisk-core-sounds-en-wav", "CC-BY-SA-3.0", "speech", rel,
                                f"{ASTERISK}: {chunk[0].name} .. {chunk[-1].name} ({len(chunk)} prompts)",
                                "real speech, 8 kHz mono source: nothing above 4 kHz"))
    return rows


def sonic_pi_licences() -> dict[str, str]:
    """Per-sample licences from the package's copyright file (SPDX spelling)."""
    text = Path("/usr/share/doc/sonic-pi-samples/copyright")
    result: dict[str, str] = {}
    if not text.exists():
        return result
    current: list[str] = []
    spdx = {"CC0": "CC0-1.0"}
    for line in text.read_text(errors="replace").splitlines():
        if line.startswith("Files:"):
            current = [Path(f).name for f in line.split(":", 1)[1].split()]
        elif line.startswith("License:") and current:
            lic = line.split(":", 1)[1].strip()
            for f in current:
                result[f] = spdx.get(lic, lic)
            current = []
    return result


def duration(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip()), 3)


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.rglob("*.partial.flac"):
        stale.unlink()
    start = time.time()
    rows = build(out)
    totals: dict[str, float] = {}
    lines = []
    for row in sorted(rows, key=lambda r: r.file):
        path = out / row.file
        seconds = duration(path)
        totals[row.category] = totals.get(row.category, 0.0) + seconds
        record = {
            "file": row.file,
            "package": row.package,
            "licence": row.licence,
            "category": row.category,
            "duration_seconds": seconds,
            "sample_rate": RATE,
            "channels": 2,
            "group": row.group,
            "source": row.source,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
        if row.notes:
            record["notes"] = row.notes
        lines.append(json.dumps(record, sort_keys=True))
    manifest = out / "corpus.jsonl"
    tmp = out / ".corpus.jsonl.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, manifest)
    for cat, secs in sorted(totals.items()):
        log(f"{cat}: {secs / 60:.1f} min")
    log(f"total {sum(totals.values()) / 60:.1f} min in {len(rows)} files, "
        f"{time.time() - start:.0f} s; manifest {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

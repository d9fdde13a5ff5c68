"""Soak test of a run's bookkeeping: many clips, some broken, the run killed and resumed.

Writes a data set of synthetic clips, ``--broken`` of them broken in different ways, and explains it
with ``python run.py`` (one run directory per part: video files, then frame folders, as a data set
holds one kind); each part is killed ``--kills`` times at seeded random points (after a random
number of clips is done, plus a random delay, with SIGKILL or SIGTERM, both used) and resumed,
then run to its end. Then it checks that nothing was lost or duplicated:

- every good clip has its row in results.csv exactly once, one ``clips/<clip>.npz``
  whose rows are those, and (with figures) one PNG and one GIF; no other result file;
- a clip done in one attempt was not written again by a later one (the resume skipped it);
- every broken clip is in errors.csv once, at the stage and with the reason its kind gives, and
  nowhere else; summary.json counts both; no temporary file is left; a SIGTERM ends with status 143
  and the resume line, the last attempt with status 0.

Broken kinds: corrupt (random bytes), truncated (half a video: no index), short (4 frames for a
model of 16), unknown label (a class outside the class list), model error (a clip the model raises
a RuntimeError on), and for frame folders: mixed sizes, a corrupt frame, too few frames.

Usage: python -m benchmarks.soak [--clips 200] [--broken 0.12] [--kills 2] [--seed 0] [--figures]
    [--out DIR] [--delay 0.0]
It prints a summary and exits with status 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from videoattr.synthetic import write_video

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("up", "down", "left", "right")
FRAMES, SIZE = 16, 32
# kind -> (stage in errors.csv, a fragment of the reason)
VIDEO_KINDS = {
    "corrupt": ("load", "could not be decoded"),
    "truncated": ("load", "could not be decoded"),
    "short": ("load", "has 4 frames but the model needs 16"),
    "label": ("label", "which is not in the class list"),
    "model": ("model", "RuntimeError: Fussy cannot take"),
}
FRAME_KINDS = {
    "sizes": ("load", "differ in size"),
    "frame": ("load", "could not be decoded"),
    "few": ("load", "has 4 frames but the model needs 16"),
}


class Fussy(nn.Module):
    """The soak's classifier (a linear map of the channel means, 4 classes): a RuntimeError for a bright
    clip (mean above 1.5 after normalisation), ``delay`` seconds per forward pass (a slower model)."""

    def __init__(self, delay: float = 0.0):
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.delay = nn.Linear(3, len(CLASSES)), delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        means = x.mean(dim=(2, 3, 4))
        if (means.mean(dim=1) > 1.5).any():
            raise RuntimeError(f"Fussy cannot take a clip this bright (batch of {len(x)})")
        return self.fc(means)


def frames_of(rng: np.random.Generator, count: int = FRAMES, size: int = SIZE, bright: bool = False) -> np.ndarray:
    """``count`` random RGB frames (all near white when ``bright``)."""
    if bright:
        return np.full((count, size, size, 3), 250, dtype=np.uint8)
    return rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def write_frames(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{i:06d}.png")


def write_video_clip(path: Path, kind: str | None, rng: np.random.Generator) -> None:
    """A video clip, good (``kind`` None) or broken that way."""
    if kind == "corrupt":
        path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        return
    count = 4 if kind == "short" else FRAMES
    write_video(path, frames_of(rng, count, bright=kind == "model"))
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


def write_frame_clip(folder: Path, kind: str | None, rng: np.random.Generator) -> None:
    """A frame folder, good (``kind`` None) or broken that way."""
    write_frames(folder, frames_of(rng, 4 if kind == "few" else FRAMES))
    if kind == "sizes":
        Image.fromarray(frames_of(rng, 1, SIZE + 8)[0]).save(folder / f"{FRAMES // 2:06d}.png")
    elif kind == "frame":
        (folder / f"{FRAMES // 2:06d}.png").write_bytes(b"not a png" * 8)


@dataclass
class Part:
    """One data set of the soak and what its clips should become."""

    name: str
    root: Path
    run_dir: Path
    good: list[str] = field(default_factory=list)
    bad: dict[str, str] = field(default_factory=dict)  # clip -> kind
    attempts: list[dict] = field(default_factory=list)


def build(base: Path, clips: int, broken: float, kills: int, rng: np.random.Generator) -> list[Part]:
    """The clips: about a fifth as frame folders (enough for ``kills`` kills), the rest video files;
    ``broken`` of each part broken, the kinds taken in turn."""
    counts = {"frames": max(len(FRAME_KINDS) + 3 * (kills + 1), round(clips * 0.2))}
    counts["videos"] = clips - counts["frames"]
    parts = []
    for name, kinds, write in (
        ("videos", VIDEO_KINDS, write_video_clip),
        ("frames", FRAME_KINDS, write_frame_clip),
    ):
        part = Part(name, base / name, base / "runs" / name)
        total = counts[name]
        bad = max(len(kinds), int(np.ceil(total * broken)))
        kinds_of = [list(kinds)[i % len(kinds)] for i in range(bad)] + [None] * (total - bad)
        rng.shuffle(kinds_of)
        part.root.mkdir(parents=True)
        for i, kind in enumerate(kinds_of):
            label = "jumping" if kind == "label" else CLASSES[i % len(CLASSES)]
            clip = f"{label}-{name[0]}{i:04d}"
            path = part.root / (f"{clip}.mp4" if name == "videos" else clip)
            write(path, kind, rng)
            if kind is None:
                part.good.append(clip)
            else:
                part.bad[clip] = kind
        parts.append(part)
    return parts


def command(part: Part, classes: Path, figures: bool, delay: float) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "run.py"),
        "model=custom",
        "model.target=benchmarks.soak.Fussy",
        f"+model.net.delay={delay}",
        f"model.classes={classes}",
        f"model.num_frames={FRAMES}",
        f"model.resize=[{SIZE},{SIZE}]",
        f"model.crop=[{SIZE},{SIZE}]",
        "model.mean=[0.5,0.5,0.5]",
        "model.std=[0.25,0.25,0.25]",
        f"dataset={part.name}",
        f"dataset.root={part.root}",
        "method=grad",
        "metrics.groups=[]",
        f"figures={str(figures).lower()}",
        f"hydra.run.dir={part.run_dir}",
    ]


def done_files(run_dir: Path) -> dict[str, int]:
    """clip -> mtime (ns) of its .npz."""
    folder = run_dir / "clips"
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.glob("[!.]*.npz"):
        try:
            found[path.stem] = path.stat().st_mtime_ns
        except FileNotFoundError:
            pass
    return found


def attempt(part: Part, cmd: list[str], kill: tuple[int, float, signal.Signals] | None) -> dict:
    """One run of ``cmd``; with ``kill`` = (clips, delay, signal): once ``clips`` more clips are done,
    wait ``delay`` seconds and send ``signal``."""
    before = done_files(part.run_dir)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), VIDEOATTR_OFFLINE="1")
    log = part.run_dir.parent / f"{part.name}_attempt{len(part.attempts) + 1}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    sent = None
    with log.open("w") as sink:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        if kill is not None:
            clips, delay, signum = kill
            while process.poll() is None and len(done_files(part.run_dir)) < len(before) + clips:
                time.sleep(0.02)
            if process.poll() is None:
                time.sleep(delay)
                if process.poll() is None:
                    process.send_signal(signum)
                    sent = signum
        status = process.wait()
    after = done_files(part.run_dir)
    record = {
        "signal": sent.name if sent else None,
        "status": status,
        "seconds": round(time.monotonic() - start, 1),
        "new": sorted(set(after) - set(before)),
        "rewritten": sorted(c for c in before if c in after and after[c] != before[c]),
        "output": log.read_text(),
    }
    part.attempts.append(record)
    return record


def check(part: Part, figures: bool, areas: int) -> list[str]:
    """The violations of part's final state (empty: none)."""
    problems = []
    run_dir = part.run_dir
    results = pd.read_csv(run_dir / "results.csv")
    rows = Counter(results["clip"])
    if set(rows) != set(part.good):
        problems.append(
            f"results.csv: missing {sorted(set(part.good) - set(rows))[:5]}, extra {sorted(set(rows) - set(part.good))[:5]}"
        )
    if any(n != areas for n in rows.values()):
        problems.append(
            f"results.csv: clips without exactly {areas} rows: {[c for c, n in rows.items() if n != areas][:5]}"
        )
    npz = sorted(p.stem for p in (run_dir / "clips").iterdir())
    if npz != sorted(part.good):
        problems.append(f"clips/: {len(npz)} files for {len(part.good)} good clips")
    for name in sorted(set(npz) & set(part.good))[:: max(1, len(part.good) // 20)]:  # a sample: its own rows
        with np.load(run_dir / "clips" / f"{name}.npz") as data:
            if [r["clip"] for r in json.loads(str(data["rows"]))] != [name] * areas:
                problems.append(f"clips/{name}.npz holds other rows")
    if figures:
        found = sorted(p.name for p in (run_dir / "figures").iterdir())
        if found != sorted(f"{c}{s}" for c in part.good for s in (".gif", ".png")):
            problems.append(f"figures/: {len(found)} files for {len(part.good)} good clips")
    elif (run_dir / "figures").exists():
        problems.append("figures/ exists with figures=false")
    errors = pd.read_csv(run_dir / "errors.csv")
    if sorted(errors["clip"]) != sorted(part.bad):
        problems.append(f"errors.csv lists {len(errors)} clips for {len(part.bad)} broken ones")
    kinds = VIDEO_KINDS if part.name == "videos" else FRAME_KINDS
    for row in errors.itertuples():
        stage, fragment = kinds.get(part.bad.get(row.clip), ("?", "?"))
        if row.stage != stage or fragment not in row.error:
            problems.append(f"errors.csv: {row.clip} ({part.bad.get(row.clip)}) has {row.stage!r}: {row.error!r}")
    summary = json.loads((run_dir / "summary.json").read_text())
    if (summary["clips_done"], summary["clips_failed"]) != (len(part.good), len(part.bad)):
        problems.append(f"summary.json counts {summary['clips_done']} done, {summary['clips_failed']} failed")
    hidden = [str(p.relative_to(run_dir)) for p in run_dir.rglob(".*") if p.name != ".hydra"]
    if hidden:
        problems.append(f"temporary files left: {hidden[:5]}")
    for i, record in enumerate(part.attempts, start=1):
        if record["rewritten"]:
            problems.append(f"attempt {i} wrote again clips done before: {record['rewritten'][:5]}")
        last = record["output"].strip().splitlines()[-1] if record["output"].strip() else ""
        if record["signal"] == "SIGTERM" and (record["status"] != 143 or "rerun the same command" not in last):
            problems.append(f"attempt {i} (SIGTERM) ended with status {record['status']}: {last!r}")
        if record["signal"] is None and record["status"] != 0:
            problems.append(f"attempt {i} (not killed) ended with status {record['status']}: {last!r}")
    return problems


def soak(
    clips: int, broken: float, kills: int, seed: int, figures: bool, out: Path, delay: float
) -> tuple[list[Part], list[str]]:
    rng = np.random.default_rng(seed)
    chooser = random.Random(seed)
    parts = build(out, clips, broken, kills, rng)
    classes = out / "classes.txt"
    classes.write_text("\n".join(CLASSES) + "\n")
    problems = []
    for p, part in enumerate(parts):
        cmd = command(part, classes, figures, delay)
        # both signals in every part: SIGKILL first in one, SIGTERM first in the other
        signals = [(signal.SIGKILL, signal.SIGTERM)[(p + k) % 2] for k in range(kills)]
        for k, signum in enumerate(signals):
            left = len(part.good) - len(done_files(part.run_dir))
            if left < 2:
                break
            # after 1 .. a share of the clips left (keeping a few for the run still to be busy), + 0-0.2 s
            at = chooser.randint(1, max(1, (left - 3) // (kills - k + 1)))
            attempt(part, cmd, (at, chooser.uniform(0.0, 0.2), signum))
        record = attempt(part, cmd, None)
        problems += [f"{part.name}: {problem}" for problem in check(part, figures, 1)]
        if record["status"] != 0:
            problems.append(f"{part.name}: the last attempt ended with status {record['status']}")
    return parts, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200, help="clips in all (videos and frame folders)")
    parser.add_argument("--broken", type=float, default=0.12, help="fraction of each part broken")
    parser.add_argument("--kills", type=int, default=2, help="kills per part, then a run to its end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per forward pass of the model")
    parser.add_argument("--out", type=Path, help="where the clips and runs go (default: a temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="videoattr_soak_"))
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    parts, problems = soak(args.clips, args.broken, args.kills, args.seed, args.figures, out, args.delay)
    wall = time.monotonic() - start
    print(f"soak: {args.clips} clips, seed {args.seed}, figures {args.figures}, in {out}")
    for part in parts:
        kinds = Counter(part.bad.values())
        killed = [a["signal"] for a in part.attempts if a["signal"]]
        print(
            f"  {part.name}: {len(part.good) + len(part.bad)} clips, {len(part.bad)} broken "
            f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
            f"{len(part.attempts)} attempts, killed by {', '.join(killed) or 'nothing'}; "
            f"clips done per attempt {[len(a['new']) for a in part.attempts]}, "
            f"seconds {[a['seconds'] for a in part.attempts]}"
        )
    total = sum(len(p.good) + len(p.bad) for p in parts)
    bad = sum(len(p.bad) for p in parts)
    kills = sum(1 for p in parts for a in p.attempts if a["signal"])
    resumes = sum(len(p.attempts) - 1 for p in parts)
    print(f"  total: {total} clips, {bad} broken ({bad / total:.0%}), {kills} kills, {resumes} resumes, {wall:.0f} s")
    if kills < args.kills * len(parts):
        problems.append(f"only {kills} kills landed (the runs ended first): raise --delay")
    for problem in problems:
        print(f"  VIOLATION: {problem}")
    print("verdict: " + ("FAIL" if problems else "PASS: nothing lost, nothing duplicated"))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

"""One timeline per long video, from its windows' saved results (``dataset.windows``): a step of its own
after the clips are explained, reading ``clips/<video>@<start>.npz`` one at a time (memory: a few numbers
per frame of the video, whatever its length).

A video's timeline holds, per window, the model's probability of the target on the clean window and, per
frame of the video, its relevance: the mean over the windows that cover the frame of the share of the
window's map mass in that frame (``frame_relevance``, averaged over the window's maps), weighted by the
window's target probability, so that a window where the model does not see the target counts little.
Written as ``timelines/<video>.npz`` (``relevance`` L, ``window_start`` W, ``window_prob`` W), a plot
``timelines/<video>.png`` (the score over time, the relevance over time, the frames around the peak) and
one row per video of ``timelines.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from videoattr.data.readers import open_clip
from videoattr.data.windows import split_window_name
from videoattr.outputs import atomic_write, safe_name

# Frames shown under a timeline's plot, centred on its peak.
PEAK_FRAMES = 5


@dataclass
class Timeline:
    """One video's windows (W, in time order) and the relevance of each of its L frames."""

    video: str
    target_name: str
    window_start: np.ndarray  # W first frames
    window_prob: np.ndarray  # W target probabilities on the clean windows
    window_frames: int  # T
    relevance: np.ndarray  # L

    @property
    def peak_frame(self) -> int:
        return int(np.argmax(self.relevance))

    def row(self) -> dict:
        """The video's ``timelines.csv`` row."""
        best = int(np.argmax(self.window_prob))
        return {
            "video": self.video,
            "target_name": self.target_name,
            "windows": len(self.window_start),
            "frames": len(self.relevance),
            "peak_frame": self.peak_frame,
            "best_window_start": int(self.window_start[best]),
            "best_window_prob": float(self.window_prob[best]),
            "mean_window_prob": float(self.window_prob.mean()),
        }


def timeline(video: str, rows: list[dict], clips: Path) -> Timeline:
    """The timeline of ``video`` from the result ``rows`` of its windows and their ``.npz`` in ``clips``."""
    windows = sorted({r["clip"]: r for r in rows}.values(), key=lambda r: split_window_name(r["clip"])[1])
    starts, probs, shares = [], [], []
    for row in windows:
        with np.load(clips / f"{safe_name(row['clip'])}.npz") as data:
            shares.append((data["frame_indices"], data["frame_relevance"].mean(axis=0)))
        starts.append(split_window_name(row["clip"])[1])
        probs.append(float(row["target_prob"]))
    length = max(int(indices.max()) for indices, _ in shares) + 1
    total, covered = np.zeros(length), np.zeros(length)
    for (indices, share), prob in zip(shares, probs):
        np.add.at(total, indices, share * prob)
        np.add.at(covered, indices, 1.0)
    relevance = np.divide(total, covered, out=np.zeros(length), where=covered > 0)
    frames = len(shares[0][0])
    return Timeline(video, str(windows[0]["target_name"]), np.array(starts), np.array(probs), frames, relevance)


def plot(line: Timeline, path: Path | None, out: Path) -> None:
    """The timeline's PNG: the target's probability per window and the relevance per frame over the
    video, the peak marked, and (given the video's ``path``) ``PEAK_FRAMES`` frames around the peak."""
    shown = path is not None
    fig = plt.figure(figsize=(11, 4.6 if shown else 3.2))
    grid = fig.add_gridspec(3 if shown else 2, PEAK_FRAMES, height_ratios=[1, 1, 1.3][: 3 if shown else 2])
    score, when = fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, :])
    score.sharex(when)
    score.step(line.window_start, line.window_prob, where="post", linewidth=1)
    score.set_ylabel(f"p({line.target_name})", fontsize=7)
    score.set_ylim(-0.02, 1.02)
    when.plot(np.arange(len(line.relevance)), line.relevance, linewidth=1, color="tab:red")
    when.set_ylabel("relevance", fontsize=7)
    when.set_xlabel("frame of the video", fontsize=7)
    for ax in (score, when):
        ax.axvline(line.peak_frame, color="k", linestyle=":", linewidth=1)
        ax.tick_params(labelsize=7)
    if shown:
        step = max(1, line.window_frames // 4)
        picks = np.clip(
            line.peak_frame + step * np.arange(-(PEAK_FRAMES // 2), PEAK_FRAMES // 2 + 1), 0, len(line.relevance) - 1
        )
        for k, (index, image) in enumerate(zip(picks, open_clip(path).read(picks.tolist()).numpy())):
            ax = fig.add_subplot(grid[2, k])
            ax.imshow(image)
            ax.set_axis_off()
            ax.set_title(f"frame {index}" + (" (peak)" if index == line.peak_frame else ""), fontsize=7)
    fig.suptitle(f"{line.video}: when is it {line.target_name}? peak at frame {line.peak_frame}", fontsize=9)
    fig.tight_layout(pad=0.4)
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)


def write_timelines(run_dir: Path, rows: list[dict], videos: dict[str, Path]) -> list[Timeline]:
    """Every windowed video's timeline (``timelines/<video>.npz|png``) and ``timelines.csv``, from the
    result ``rows`` of a run in ``run_dir``; ``videos`` maps a video's name to its file (for the frames of
    the peak; a video not in it gets its plot without frames). Clips that are not windows are left out."""
    by_video: dict[str, list[dict]] = {}
    for row in rows:
        parts = split_window_name(str(row["clip"]))
        if parts is not None:
            by_video.setdefault(parts[0], []).append(row)
    out = run_dir / "timelines"
    out.mkdir(exist_ok=True)
    lines = []
    for video, windows in sorted(by_video.items()):
        line = timeline(video, windows, run_dir / "clips")
        arrays = {"relevance": line.relevance, "window_start": line.window_start, "window_prob": line.window_prob}
        atomic_write(out / f"{safe_name(video)}.npz", lambda tmp, a=arrays: np.savez(tmp, **a))
        plot(line, videos.get(video), out / f"{safe_name(video)}.png")
        lines.append(line)
    if lines:
        table = pd.DataFrame([line.row() for line in lines])
        atomic_write(run_dir / "timelines.csv", lambda tmp: table.to_csv(tmp, index=False))
    return lines

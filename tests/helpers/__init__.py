"""What the tests share: the repository root, tiny real video files and frame folders, configs composed
as ``run.py`` composes them, ``python run.py`` as a subprocess, and a tiny network.

``tests/helpers/ddp_check.py`` is a script the DDP test runs in its own processes.
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"

# Per container: codec and options chosen for near-lossless frames (tests compare pixel values).
_CODECS = {
    ".mp4": ("libx264", {"crf": "1", "bf": "0"}),
    ".mkv": ("libx264", {"crf": "1", "bf": "0"}),
    ".avi": ("mpeg4", {"qscale": "1"}),
    ".webm": ("libvpx-vp9", {"lossless": "1"}),
}


def write_video_file(path: str | Path, frames: np.ndarray, fps: int = 8) -> Path:
    """Encode T x H x W x 3 uint8 RGB ``frames`` to ``path``; the codec follows the suffix.

    Keep H and W even and W >= 32, W != 48: decord 0.6 misreads a few tiny widths (16, 24, 48).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec, options = _CODECS[path.suffix]
    frames = np.asarray(frames, dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_frame_folder(folder: str | Path, frames: np.ndarray, ext: str = "png") -> Path:
    """Save ``frames`` (T x H x W x 3 RGB, T x H x W grayscale or T x H x W x 4 RGBA, uint8) as
    ``folder/000001.<ext>``, ..."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(np.asarray(frames, dtype=np.uint8), start=1):
        Image.fromarray(frame).save(folder / f"{i:06d}.{ext}")
    return folder


def graded_frames(num_frames: int, height: int = 16, width: int = 16, step: int = 12) -> np.ndarray:
    """T x H x W x 3 uint8 frames, frame i uniformly grey at ``step * i + 8``: its index reads back from its mean."""
    levels = (step * np.arange(num_frames) + 8).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()


def compose_config(overrides: list[str]) -> DictConfig:
    """``conf/config.yaml`` composed with ``overrides``, as ``run.py`` composes it (schemas included)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a command-line subprocess: one thread, no downloads, plus ``extra``."""
    return dict(os.environ, OMP_NUM_THREADS="1", VIDEOATTR_OFFLINE="1", **extra)


def cli_command(args: list[str], script: str = "run.py") -> list[str]:
    """``python <script> ARGS`` with ``script`` relative to the repository root."""
    return [sys.executable, str(ROOT / script), *args]


def run_cli(
    *args: str, cwd: Path = ROOT, env: dict | None = None, check: bool = True, script: str = "run.py"
) -> subprocess.CompletedProcess:
    """Run ``python <script> ARGS`` in ``cwd`` (one thread, offline) and return the CompletedProcess,
    its output captured; with ``check`` its exit status must be 0."""
    out = subprocess.run(
        cli_command(list(args), script), cwd=cwd, env=cli_env(**(env or {})), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


def run_module(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m ARGS`` from the repository root (a benchmark or a videoattr command), one thread."""
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=cli_env(), capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


def tiny_net(num_classes: int = 5) -> nn.Module:
    """A seeded, frozen 3D CNN for method tests: Conv3d(3, 4) -> ReLU -> global pool -> Linear(4, classes)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, num_classes)
    )
    return net.eval().requires_grad_(False)


class Picky(nn.Module):
    """A classifier (a linear map of the channel means, ``classes`` outputs) that fails on bright clips:
    it raises ``error`` (a name of a builtin exception) when a clip of its batch has a mean above
    ``limit`` after normalisation; with ``in_fit`` only with autograd on (inside a perturbation fit),
    with ``rank`` only in the process of that LOCAL_RANK (of a DDP run).
    ``python run.py model=custom model.target=helpers.Picky`` with tests/ on the path."""

    def __init__(
        self,
        limit: float = 1.0,
        error: str = "RuntimeError",
        in_fit: bool = False,
        rank: int | None = None,
        classes: int = 4,
    ):
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.limit, self.error, self.in_fit, self.rank = nn.Linear(3, classes), limit, error, in_fit, rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        means = x.mean(dim=(2, 3, 4))
        bright = means.mean(dim=1) > self.limit
        here = self.rank is None or os.environ.get("LOCAL_RANK", "0") == str(self.rank)
        if bright.any() and here and (torch.is_grad_enabled() or not self.in_fit):
            raise getattr(builtins, self.error)(
                f"Picky cannot take clip {int(bright.nonzero()[0])} of a batch of {len(x)}"
            )
        return self.fc(means)


class Stall(nn.Module):
    """A linear classifier of the channel means that, in the process of LOCAL_RANK ``rank`` (0 when
    unset), stalls at its first forward pass with autograd on (the first iteration of a perturbation
    fit) once the file ``after`` exists (or at once without it): it writes the file ``mark`` and
    sleeps a minute, waiting for a test's signal. Once ``mark`` exists (a rerun) it never stalls."""

    def __init__(self, mark: str, after: str | None = None, rank: int = 0, classes: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.mark, self.after, self.rank, self.stalled = nn.Linear(3, classes), mark, after, rank, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        here = os.environ.get("LOCAL_RANK", "0") == str(self.rank)
        ready = self.after is None or Path(self.after).exists()
        if here and ready and torch.is_grad_enabled() and not self.stalled and not Path(self.mark).exists():
            self.stalled = True
            Path(self.mark).with_suffix(".tmp").write_text(str(os.getpid()))
            Path(self.mark).with_suffix(".tmp").replace(self.mark)
            time.sleep(60)
        return self.fc(x.mean(dim=(2, 3, 4)))

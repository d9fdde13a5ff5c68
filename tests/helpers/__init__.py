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
from torchvision.models.video import MViT, SwinTransformer3d
from torchvision.models.video.mvit import MSBlockConfig

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


def compose_config(overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """``conf/config.yaml`` composed with ``overrides``, as ``run.py`` composes it (schemas included)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=return_hydra_config)


def run_in_process(overrides: list[str], run_dir: Path) -> str | None:
    """What ``python run.py <overrides> hydra.run.dir=<run_dir>`` reports, without a process: composed,
    validated and run as ``run.py`` does, a user error turned into the sentence of its one stderr line
    by ``videoattr.cli.user_error_message`` (None: the run raised no error)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from videoattr.cli import USER_ERRORS, user_error_message
    from videoattr.runner import run
    from videoattr.schema import validate

    try:
        cfg = compose_config([*overrides, f"hydra.run.dir={run_dir}"], return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(run_dir)
            HydraConfig.instance().set_config(cfg)
            del cfg["hydra"]
        validate(cfg)
        run(cfg)
    except USER_ERRORS as err:
        return user_error_message(err)
    finally:
        HydraConfig.instance().cfg = None  # other tests run outside a Hydra run
    return None


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


def tiny_mvit(
    num_classes: int = 3, frames: int = 8, size: tuple[int, int] = (32, 32), global_kv: bool = False, seed: int = 0
) -> MViT:
    """A seeded two-block torchvision MViT for Grad-CAM tests: 1 + T/2 x H/4 x W/4 tokens of 16 channels.

    Block 0 keeps its query grid; its keys and values are pooled by [1, 2, 2], or with ``global_kv`` by
    [T/2, H/4, W/4] to one token (its attention then adds the same summary to every token, so the tokens
    that enter the last block stay local). Block 1 pools its queries by [1, 2, 2] (its norm1 sees the
    finer grid), or with ``global_kv`` keeps them. Not frozen: the caller trains or freezes it.
    """
    torch.manual_seed(seed)
    grid = [frames // 2, size[0] // 4, size[1] // 4]
    blocks = [
        MSBlockConfig(1, 16, 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], grid if global_kv else [1, 2, 2]),
        MSBlockConfig(1, 16, 16, [3, 3, 3], [3, 3, 3], [1, 2, 2] if not global_kv else [1, 1, 1], [1, 1, 1]),
    ]
    return MViT(
        spatial_size=size,
        temporal_size=frames,
        block_setting=blocks,
        residual_pool=False,
        residual_with_cls_embed=True,
        rel_pos_embed=False,
        proj_after_attn=False,
        dropout=0.0,
        num_classes=num_classes,
    )


def tiny_swin3d(num_classes: int = 3, seed: int = 0) -> SwinTransformer3d:
    """A seeded two-stage torchvision SwinTransformer3d (patches 2 x 4 x 4, 16 then 32 channels, windows
    2 x 4 x 4): on T x H x W clips its last stage is T/2 x H/8 x W/8 x 32, channels-last. Not frozen."""
    torch.manual_seed(seed)
    return SwinTransformer3d(
        patch_size=[2, 4, 4],
        embed_dim=16,
        depths=[1, 1],
        num_heads=[1, 2],
        window_size=[2, 4, 4],
        stochastic_depth_prob=0.0,
        num_classes=num_classes,
    )

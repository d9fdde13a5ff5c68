"""Figures: frames in a row with the maps overlaid under them (as the reference), and animations."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

_CMAP = matplotlib.colormaps["jet"]


def overlay(frames: np.ndarray, maps: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend heat maps over frames.

    frames: T x H x W x 3 uint8; maps: T x H x W in [0, 1]. Returns T x H x W x 3 uint8.
    """
    heat = _CMAP(np.clip(maps, 0.0, 1.0))[..., :3]
    blend = (1 - alpha) * frames / 255.0 + alpha * heat
    return (blend.clip(0, 1) * 255).round().astype(np.uint8)


def save_figure(path: Path, frames: np.ndarray, maps: np.ndarray, row_names: list[str], title: str) -> None:
    """PNG: the T frames in the first row, one overlay row per map.

    frames: T x H x W x 3 uint8; maps: A x T x H x W in [0, 1]; row_names: A labels.
    """
    t = frames.shape[0]
    rows = 1 + maps.shape[0]
    fig, axes = plt.subplots(rows, t, figsize=(1.1 * t, 1.2 * rows), squeeze=False)
    for j in range(t):
        axes[0, j].imshow(frames[j])
        for a in range(maps.shape[0]):
            axes[a + 1, j].imshow(overlay(frames[j : j + 1], maps[a, j : j + 1])[0])
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("input", fontsize=7)
    for a, name in enumerate(row_names):
        axes[a + 1, 0].set_ylabel(name, fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, format="png", dpi=80)
    plt.close(fig)


def save_animation(path: Path, frames: np.ndarray, maps: np.ndarray, fps: float = 4.0) -> None:
    """Animated GIF: each frame shows the input and its overlays side by side.

    frames: T x H x W x 3 uint8; maps: A x T x H x W in [0, 1].
    """
    panels = [frames] + [overlay(frames, m) for m in maps]
    iio.imwrite(path, np.concatenate(panels, axis=2), extension=".gif", duration=1000 / fps, loop=0)

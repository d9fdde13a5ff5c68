"""Figures: frames in a row with the maps overlaid under them (as the reference), animations, and
the report's overlay strips (a few frames with a map overlaid)."""

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


def probability_line(
    clean: float,
    baseline: float | None = None,
    preserved: np.ndarray | None = None,
    deleted: np.ndarray | None = None,
) -> str:
    """The target probabilities for a figure title: of the clean clip, of the fully perturbed one
    (baseline) and, per area, of the clip kept / removed by the final mask (where given).

    >>> probability_line(0.99, 0.25, np.array([0.98, 0.97]), np.array([0.1, 0.05]))
    'p(target): clean 0.99, baseline 0.25, preserved 0.98 / 0.97, deleted 0.10 / 0.05'
    """
    parts = [f"clean {clean:.2f}"]
    if baseline is not None:
        parts.append(f"baseline {baseline:.2f}")
    for word, values in (("preserved", preserved), ("deleted", deleted)):
        if values is not None:
            parts.append(f"{word} " + " / ".join(f"{v:.2f}" for v in np.atleast_1d(values)))
    return "p(target): " + ", ".join(parts)


def save_figure(
    path: Path,
    frames: np.ndarray,
    maps: np.ndarray,
    row_names: list[str],
    title: str,
    curves: np.ndarray | None = None,
    curve_label: str = "relevance",
) -> None:
    """PNG: the T frames in the first row, one overlay row per map and, given ``curves``, a last row with
    one curve per map under the frames (when in the clip each map puts its relevance).

    frames: T x H x W x 3 uint8; maps: A x T x H x W in [0, 1]; row_names: A labels; title: one or
    more lines (e.g. the clip, then ``probability_line``); curves: A x T per-frame values, labelled
    ``curve_label`` on their axis.
    """
    t = frames.shape[0]
    rows = 1 + maps.shape[0] + (curves is not None)
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
    if curves is not None:
        frame_curves(fig, axes[-1], curves, row_names, curve_label)
    fig.suptitle(title, fontsize=8)
    # Keep the title's lines (about 0.15 inch each) clear of the first row.
    lines = title.count("\n") + 1
    fig.tight_layout(pad=0.2, rect=(0, 0, 1, 1 - 0.15 * lines / fig.get_figheight()))
    fig.savefig(path, format="png", dpi=80)
    plt.close(fig)


def frame_curves(fig, row: np.ndarray, curves: np.ndarray, names: list[str], label: str) -> None:
    """Replace a figure's row of T axes by one axis spanning them, with one curve (A x T) per map, each
    point under its frame."""
    spec = row[0].get_subplotspec().get_gridspec()
    for ax in row:
        ax.remove()
    ax = fig.add_subplot(spec[spec.nrows - 1, :])
    t = curves.shape[1]
    for name, curve in zip(names, curves):
        ax.plot(np.arange(t), curve, marker=".", linewidth=1, label=name)
    ax.set_xlim(-0.5, t - 0.5)
    ax.set_ylim(bottom=0)
    ax.set_xticks(np.arange(t))
    ax.tick_params(labelsize=6)
    ax.set_xlabel("frame", fontsize=7)
    ax.set_ylabel(label, fontsize=7)
    if len(names) > 1:
        ax.legend(fontsize=6, ncol=len(names))


def save_animation(path: Path, frames: np.ndarray, maps: np.ndarray, fps: float = 4.0) -> None:
    """Animated GIF: each frame shows the input and its overlays side by side.

    frames: T x H x W x 3 uint8; maps: A x T x H x W in [0, 1].
    """
    panels = [frames] + [overlay(frames, m) for m in maps]
    # Encoded in memory, then written: a write that fails (a full disk) leaves no open encoder behind.
    data = iio.imwrite("<bytes>", np.concatenate(panels, axis=2), extension=".gif", duration=1000 / fps, loop=0)
    Path(path).write_bytes(data)


def overlay_strip(frames: np.ndarray, maps: np.ndarray | None, indices: list[int], gap: int = 2) -> np.ndarray:
    """The frames ``indices`` side by side, ``gap`` white pixels apart, with ``maps`` overlaid (or bare).

    frames: T x H x W x 3 uint8; maps: T x H x W in [0, 1] or None. Returns H x W' x 3 uint8.
    """
    shown = frames[indices] if maps is None else overlay(frames[indices], maps[indices])
    h, w = shown.shape[1:3]
    strip = np.full((h, len(indices) * (w + gap) - gap, 3), 255, np.uint8)
    for k, image in enumerate(shown):
        strip[:, k * (w + gap) : k * (w + gap) + w] = image
    return strip


def strongest_frames(maps: list[np.ndarray], count: int) -> list[int]:
    """The ``count`` frames (in time order) where the maps put most of their mass.

    maps: T x H x W maps in [0, 1], each weighing equally (its per-frame means scaled to sum 1).
    """
    score = np.zeros(maps[0].shape[0])
    for m in maps:
        mass = m.reshape(m.shape[0], -1).mean(axis=1)
        score += mass / mass.sum() if mass.sum() > 0 else 0.0
    top = np.argsort(-score, kind="stable")[: min(count, len(score))]
    return sorted(int(t) for t in top)

"""A world of clips whose class is decided only by a known spatio-temporal region.

Every clip is ``num_frames`` RGB frames of ``size`` x ``size`` pixels:

- background: grey texture, a sum of sinusoidal gratings, drifting with a random velocity;
- distractors: blue, green, yellow and cyan disks and squares that move in straight lines at
  random velocities and are visible for random windows of frames: they carry no class information;
- target: one red disk, visible only for a window of ``min_present`` to ``max_present``
  consecutive frames, placed anywhere in the frame, moving in the direction that names the class
  (``CLASSES``). It is drawn last, so nothing hides it.

The ground-truth mask of a clip is the set of target pixels in every frame: the only pixels that
decide the class. All randomness comes from the ``numpy.random.Generator`` handed in, so a seed
fixes a clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

CLASSES = ("up", "down", "left", "right")
DIRECTIONS = {"up": (-1.0, 0.0), "down": (1.0, 0.0), "left": (0.0, -1.0), "right": (0.0, 1.0)}
TARGET_COLOUR = (220, 30, 30)
DISTRACTOR_COLOURS = ((40, 80, 220), (40, 170, 60), (230, 210, 40), (40, 200, 210))
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class World:
    """Parameters of the synthetic world (lengths in pixels, speeds in pixels per frame)."""

    num_frames: int = 16
    size: int = 112
    min_present: int = 6
    max_present: int = 10
    target_radius: tuple[float, float] = (5.0, 7.0)
    target_speed: tuple[float, float] = (2.5, 4.0)
    num_distractors: tuple[int, int] = (2, 5)
    distractor_radius: tuple[float, float] = (4.0, 8.0)
    distractor_speed: tuple[float, float] = (1.0, 4.0)
    background_speed: float = 2.0
    num_gratings: int = 3


def render_clip(
    rng: np.random.Generator, label: int | None = None, world: World = World(), with_target: bool = True
) -> tuple[np.ndarray, np.ndarray, int]:
    """Draw one clip.

    label: index into ``CLASSES``; drawn at random when None.
    with_target: False paints the same clip without the target (the evidence removed); the mask
        still says where it would have been.
    Returns frames (uint8 T x H x W x 3), the ground-truth mask (uint8 T x H x W, 1 on target
    pixels) and the label.
    """
    if label is None:
        label = int(rng.integers(len(CLASSES)))
    t = np.arange(world.num_frames, dtype=np.float64)
    yy, xx = np.mgrid[0 : world.size, 0 : world.size].astype(np.float64)

    frames = np.repeat(_background(rng, t, yy, xx, world)[..., None], 3, axis=-1)
    for _ in range(rng.integers(world.num_distractors[0], world.num_distractors[1] + 1)):
        shape = _distractor(rng, t, yy, xx, world)
        frames[shape] = DISTRACTOR_COLOURS[rng.integers(len(DISTRACTOR_COLOURS))]
    mask = _target(rng, CLASSES[label], t, yy, xx, world)
    if with_target:
        frames[mask] = TARGET_COLOUR
    return frames.astype(np.uint8), mask.astype(np.uint8), label


def _background(rng, t, yy, xx, world: World) -> np.ndarray:
    """T x H x W grey levels in [65, 185]: gratings translated by one random velocity."""
    vy, vx = rng.uniform(-world.background_speed, world.background_speed, 2)
    y = yy[None] - vy * t[:, None, None]
    x = xx[None] - vx * t[:, None, None]
    amplitude = rng.dirichlet(np.ones(world.num_gratings))
    texture = np.zeros_like(y)
    for a in amplitude:
        freq = rng.uniform(0.02, 0.12)
        angle, phase = rng.uniform(0, 2 * np.pi, 2)
        texture += a * np.sin(2 * np.pi * freq * (np.cos(angle) * x + np.sin(angle) * y) + phase)
    return 125.0 + 60.0 * texture


def _window(rng, length: int, world: World) -> np.ndarray:
    """T booleans: true on ``length`` consecutive frames at a random start."""
    start = rng.integers(world.num_frames - length + 1)
    return (np.arange(world.num_frames) >= start) & (np.arange(world.num_frames) < start + length)


def _distractor(rng, t, yy, xx, world: World) -> np.ndarray:
    """T x H x W booleans of a disk or square moving in a straight line for a random window."""
    present = _window(rng, int(rng.integers(world.min_present, world.num_frames + 1)), world)
    radius = rng.uniform(*world.distractor_radius)
    angle = rng.uniform(0, 2 * np.pi)
    velocity = rng.uniform(*world.distractor_speed) * np.array([np.sin(angle), np.cos(angle)])
    middle = rng.uniform(0, world.size, 2)  # its centre halfway through its window
    cy, cx = middle[:, None] + velocity[:, None] * (t - t[present].mean())
    dy = yy[None] - cy[:, None, None]
    dx = xx[None] - cx[:, None, None]
    if rng.random() < 0.5:
        shape = dy**2 + dx**2 <= radius**2
    else:
        shape = (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
    return shape & present[:, None, None]


def _target(rng, name: str, t, yy, xx, world: World) -> np.ndarray:
    """T x H x W booleans of the red disk, inside the frame on every frame it is present."""
    present = _window(rng, int(rng.integers(world.min_present, world.max_present + 1)), world)
    radius = rng.uniform(*world.target_radius)
    step = rng.uniform(*world.target_speed) * np.array(DIRECTIONS[name])
    travel = step * (present.sum() - 1)
    low = radius - np.minimum(travel, 0)
    high = world.size - 1 - radius - np.maximum(travel, 0)
    start = rng.uniform(low, high)
    first = np.argmax(present)
    cy, cx = start[:, None] + step[:, None] * (t - first)
    disk = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2 <= radius**2
    return disk & present[:, None, None]


def normalise(frames: np.ndarray) -> torch.Tensor:
    """uint8 T x H x W x 3 frames -> float32 3 x T x H x W clip, normalised with MEAN / STD."""
    clip = torch.from_numpy(frames).permute(3, 0, 1, 2).float().div_(255)
    mean = torch.tensor(MEAN).view(3, 1, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1, 1)
    return (clip - mean) / std


class SyntheticClips(Dataset):
    """``length`` clips drawn from the world; clip ``i`` is a function of (``seed``, ``i``) only.

    Labels cycle through the classes (``i % len(CLASSES)``), so the set is balanced. Items follow
    the toolkit's dataset item: ``clip`` (3 x T x H x W normalised), ``target`` (int) and
    ``gt_mask`` (float32 T x H x W).
    """

    def __init__(self, length: int, seed: int, world: World = World()):
        self.length, self.seed, self.world = length, seed, world

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        frames, mask, label = render_clip(np.random.default_rng([self.seed, i]), i % len(CLASSES), self.world)
        return {"clip": normalise(frames), "target": label, "gt_mask": torch.from_numpy(mask).float()}

"""Long videos of the synthetic world with the evidence at a known time: clips of the world drawn without
their red disk (the background texture and the distractors still move), and one clip with it.

The evidence of a long video is the frames where the disk is drawn: a run of ``World.min_present`` to
``max_present`` frames inside its clip. The temporal grounding of a map is judged against them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from videoattr.synthetic.export import write_video
from videoattr.synthetic.generator import CLASSES, World, render_clip

WORLD = World()


def long_video(
    seed: int, label: int, clips: int, evidence_clip: int, world: World = WORLD
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The ``clips`` clips of a long video, one at a time (memory: one clip): ``(frames, present)`` with
    frames uint8 T x H x W x 3 and present T booleans (the disk drawn in that frame); only clip
    ``evidence_clip`` has the disk, moving in direction ``CLASSES[label]``."""
    for k in range(clips):
        frames, mask, _ = render_clip(np.random.default_rng([seed, k]), label, world, with_target=k == evidence_clip)
        present = mask.reshape(len(mask), -1).any(axis=1) & (k == evidence_clip)
        yield frames, present


def save_long_video(
    directory: str | Path, seed: int, label: int, clips: int, evidence_clip: int, world: World = WORLD, fps: int = 8
) -> tuple[Path, np.ndarray]:
    """Write ``<class>-long_<seed>.mp4`` (lossless, its label in its name) and ``<same>.npz`` (key
    ``evidence``: L booleans, the frames with the disk) into ``directory``; return the video's path and the
    evidence."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    video = directory / f"{CLASSES[label]}-long_{seed}.mp4"
    evidence: list[np.ndarray] = []

    def frames() -> Iterator[np.ndarray]:
        for clip, present in long_video(seed, label, clips, evidence_clip, world):
            evidence.append(present)
            yield from clip

    write_video(video, frames(), fps)
    flags = np.concatenate(evidence)
    np.savez_compressed(video.with_suffix(".npz"), evidence=flags)
    return video, flags

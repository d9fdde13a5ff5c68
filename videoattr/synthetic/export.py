"""Write synthetic clips as lossless videos with their ground-truth masks beside them."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from pathlib import Path

import av
import numpy as np


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: int = 8) -> None:
    """Write uint8 RGB frames (T x H x W x 3, or any iterable of H x W x 3 frames, encoded as they come)
    losslessly (H.264 in RGB, crf 0): decord reads back the same pixels."""
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], "rgb24"
        stream.options = {"crf": "0"}
        for frame in chain([first], frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def save_clip(directory: str | Path, name: str, frames: np.ndarray, mask: np.ndarray) -> Path:
    """Write ``<name>.mp4`` and ``<name>.npz`` (key ``mask``, uint8 T x H x W); return the video path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    video = directory / f"{name}.mp4"
    write_video(video, frames)
    np.savez_compressed(directory / f"{name}.npz", mask=mask.astype(np.uint8))
    return video

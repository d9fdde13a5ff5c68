"""Clip readers: video files decoded with decord, frame folders read with PIL.

A reader knows its clip's length and returns the frames at given indices as a
T x H x W x 3 uint8 tensor (RGB). Only the requested frames are decoded.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import decord
import numpy as np
import torch
from PIL import Image

from videoattr.errors import VideoAttrError
from videoattr.terminal import decoder_messages, decoder_reason

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv")
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg")
# decord reports unreadable files as DECORDError or as a bare RuntimeError, depending on where it fails.
_DECODE_ERRORS = (decord.DECORDError, RuntimeError)


def is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def is_frame(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in FRAME_EXTENSIONS


def natural_key(path: Path) -> list:
    """Sort key that orders ``frame_2`` before ``frame_10``; zero-padded names sort as plain text."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def frame_files(folder: Path) -> list[Path]:
    """The frame images of ``folder`` in name order; a folder that also holds videos is an error."""
    entries = list(folder.iterdir())
    if any(is_video(p) for p in entries):
        raise VideoAttrError(
            f"Folder {folder} mixes frame images and video files: keep each clip's frames in a folder of their own."
        )
    return sorted((p for p in entries if is_frame(p)), key=natural_key)


class VideoFileReader:
    """A video file (mp4, avi, webm, mkv) decoded with decord."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with decoder_messages() as messages:
            try:
                self._video = decord.VideoReader(str(self.path), ctx=decord.cpu(0))
            except _DECODE_ERRORS as err:
                error = err
            else:
                return
        raise _undecodable(self.path, messages) from error

    def __len__(self) -> int:
        return len(self._video)

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """Frames at ``indices`` as T x H x W x 3 uint8."""
        with decoder_messages() as messages:
            try:
                with decord.bridge.use_torch():
                    return self._video.get_batch([int(i) for i in indices])
            except _DECODE_ERRORS as err:
                error = err
        raise _undecodable(self.path, messages) from error


class FrameFolderReader:
    """A folder of PNG/JPEG frames, one image per frame, ordered by file name."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.files = frame_files(self.path)
        if not self.files:
            raise VideoAttrError(f"Folder {self.path} holds no frames: add .png/.jpg images or remove the folder.")
        sizes = {}
        for file in self.files:
            try:
                with Image.open(file) as img:
                    sizes.setdefault(img.size, file)
            except OSError as err:
                raise _undecodable(file) from err
        if len(sizes) > 1:
            found = ", ".join(f"{w}x{h} ({f.name})" for (w, h), f in sizes.items())
            raise VideoAttrError(f"Frames of {self.path} differ in size ({found}): resize them to one size.")

    def __len__(self) -> int:
        return len(self.files)

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """Frames at ``indices`` as T x H x W x 3 uint8; grayscale/RGBA frames become RGB with a warning."""
        frames, converted = [], set()
        for i in indices:
            file = self.files[int(i)]
            try:
                with Image.open(file) as img:
                    if img.mode != "RGB":
                        converted.add(img.mode)
                        img = img.convert("RGB")
                    frames.append(np.asarray(img))
            except OSError as err:
                raise _undecodable(file) from err
        if converted:
            warnings.warn(f"Frames of {self.path} are {'/'.join(sorted(converted))}: converted to RGB.", stacklevel=2)
        return torch.from_numpy(np.stack(frames))


def open_clip(path: str | Path) -> VideoFileReader | FrameFolderReader:
    """The reader for a video file or a frame folder."""
    path = Path(path)
    if path.is_dir():
        return FrameFolderReader(path)
    if is_video(path):
        return VideoFileReader(path)
    raise VideoAttrError(
        f"{path} is neither a video file ({', '.join(VIDEO_EXTENSIONS)}) nor a frame folder: check the path."
    )


def _undecodable(path: Path, messages: list[str] = ()) -> VideoAttrError:
    """The error of a file the decoder cannot read; ``messages``: what the decoder printed about it."""
    why = decoder_reason(list(messages), str(path))
    why = f" ({why})" if why else ""
    return VideoAttrError(f"{path} could not be decoded{why}: re-encode it or remove it from the folder.")

"""Long videos as windows: every video cut into the model's clips of T consecutive frames, one window
every ``stride`` frames, each a dataset item of its own named ``<video>@<start frame>``."""

from __future__ import annotations

import torch

SEPARATOR = "@"


def window_starts(length: int, num_frames: int, stride: int) -> list[int]:
    """The first frames of the windows of a video of ``length`` frames: 0, stride, 2 stride, ... while a
    whole window of ``num_frames`` fits, and one last window ending on the last frame when the stride
    leaves the end uncovered; a video shorter than a window gives one window at 0."""
    last = max(length - num_frames, 0)
    starts = list(range(0, last + 1, stride))
    return starts if starts[-1] == last else [*starts, last]


def window_indices(start: int, num_frames: int) -> torch.Tensor:
    """The T frame indices of the window starting at ``start``: start, start + 1, ... (int64)."""
    return torch.arange(start, start + num_frames, dtype=torch.int64)


def window_name(video: str, start: int) -> str:
    """``<video>@<start frame>``, e.g. ``cooking@480``."""
    return f"{video}{SEPARATOR}{start}"


def split_window_name(name: str) -> tuple[str, int] | None:
    """``(video, start)`` of a window's name, None for the name of a whole clip."""
    video, sep, start = name.rpartition(SEPARATOR)
    return (video, int(start)) if sep and start.isdigit() else None

"""Fixtures over ``tests/helpers``: ``write_video(path, frames, fps=8)`` (frames T x H x W x 3 uint8),
``write_frames(folder, frames)`` and ``make_graded_frames(T, H, W)``."""

import pytest

from helpers import graded_frames, write_frame_folder, write_video_file


@pytest.fixture
def write_video():
    return write_video_file


@pytest.fixture
def write_frames():
    return write_frame_folder


@pytest.fixture
def make_graded_frames():
    return graded_frames

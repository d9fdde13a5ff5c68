"""Clips decoded in DataLoader worker processes (videoattr.data.loader): order, per-clip failures, crashes."""

from __future__ import annotations

import io
import os
import signal
import sys

import pytest
from torch.utils.data import get_worker_info

from videoattr.data.datasets import VideoDataset
from videoattr.data.loader import default_workers, load_clips, workers_of
from videoattr.models.spec import ModelSpec
from videoattr.terminal import clip_progress

SPEC = ModelSpec("tiny", 4, (16, 16), (16, 16), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), class_names=["a", "b"])


def folder(root, write_video, make_graded_frames, names=("a-1", "a-2", "b-3", "b-4", "a-5")):
    """Tiny videos named ``names`` under ``root``, with ``b-bad.mp4``, a file no decoder can read."""
    for name in names:
        write_video(root / f"{name}.mp4", make_graded_frames(8, 32, 32))
    (root / "b-bad.mp4").write_bytes(b"\x00garbage" * 512)
    return VideoDataset(root, SPEC)


@pytest.mark.parametrize("workers", [0, 2])
def test_items_come_in_order_with_each_bad_clip_as_its_failure(tmp_path, write_video, make_graded_frames, workers):
    dataset = folder(tmp_path, write_video, make_graded_frames)
    names = [dataset.clip_name(i) for i in range(len(dataset))]
    order = [5, 0, 2, 1, 4, 3]
    outcomes = list(load_clips(dataset, order, workers, prefetch=3))
    assert [index for index, _, _ in outcomes] == order
    for index, item, failure in outcomes:
        if names[index] == "b-bad":
            assert item is None and failure.stage == "load" and "could not be decoded" in failure.reason
        else:
            assert failure is None and item["name"] == names[index] and item["clip"].shape == (3, 4, 16, 16)


class Crashing(VideoDataset):
    """A dataset whose worker process dies (SIGKILL, as the OOM killer would) reading clip ``crash``."""

    crash = "b-3"

    def __getitem__(self, index):
        if self.clip_name(index) == self.crash and get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(index)


def test_a_worker_that_dies_costs_its_clip_only_and_never_hangs(tmp_path, write_video, make_graded_frames):
    folder(tmp_path, write_video, make_graded_frames)
    dataset = Crashing(tmp_path, SPEC)
    outcomes = list(load_clips(dataset, range(len(dataset)), 2, prefetch=2))
    names = [dataset.clip_name(index) for index, _, _ in outcomes]
    assert names == ["a-1", "a-2", "a-5", "b-3", "b-4", "b-bad"]
    failed = {dataset.clip_name(i): f.reason for i, _, f in outcomes if f is not None}
    assert set(failed) == {"b-3", "b-bad"}
    assert failed["b-3"].startswith("the process decoding it died")
    assert all(item["name"] == name for name, (_, item, f) in zip(names, outcomes) if f is None)


def test_default_workers_leave_a_core_to_the_model(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)))
    assert default_workers() == 5 and default_workers(processes=2) == 2 and workers_of(0) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert default_workers() == 0 and workers_of(None) == 0 and workers_of(3) == 3


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_the_clips_of_the_whole_job(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    with clip_progress(total=20, done=5, show=True) as bar:
        bar.update(3)
    assert "8/20" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal (a log file, a pipe): no bar
    with clip_progress(total=20, done=5, show=True) as bar:
        bar.update(3)
    assert sys.stderr.getvalue() == ""

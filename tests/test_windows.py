"""Long videos cut into windows (dataset.windows): one dataset item per window, named <video>@<start>,
read with decord; a video that cannot be opened fails alone; the per-video timeline of a real run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_data import frame_levels, tiny_spec

from helpers import compose_config, run_cli, run_module, write_video_file
from videoattr.data.datasets import VideoDataset
from videoattr.data.windows import split_window_name, window_name, window_starts
from videoattr.errors import VideoAttrError
from videoattr.schema import validate
from videoattr.synthetic import CLASSES
from videoattr.synthetic.long_video import save_long_video


def graded(n: int) -> np.ndarray:
    """n frames of 32 x 32 pixels, frame i of grey level 12 i + 8 (``frame_levels`` reads i back)."""
    return np.stack([np.full((32, 32, 3), 12 * i + 8, np.uint8) for i in range(n)])


@pytest.mark.parametrize(
    ("length", "stride", "starts"),
    [(20, 6, [0, 6, 12, 16]), (20, 4, [0, 4, 8, 12, 16]), (16, 8, [0, 8, 12]), (4, 2, [0]), (3, 2, [0])],
)
def test_window_starts_cover_the_video_to_its_last_frame(length, stride, starts):
    assert window_starts(length, 4, stride) == starts


def test_window_names_round_trip():
    assert window_name("cooking-1", 480) == "cooking-1@480"
    assert split_window_name("cooking-1@480") == ("cooking-1", 480)
    assert split_window_name("a@b@16") == ("a@b", 16)
    assert split_window_name("down-100_0") is None


def test_every_window_is_an_item_of_consecutive_frames(tmp_path):
    write_video_file(tmp_path / "left-long.mp4", graded(20))
    write_video_file(tmp_path / "up-short.mp4", graded(3))
    (tmp_path / "right-broken.mp4").write_bytes(b"not a video")
    data = VideoDataset(tmp_path, tiny_spec(4), classes=list(CLASSES), short_clips="pad", windows=6)
    names = [data.clip_name(i) for i in range(len(data))]
    assert names == ["left-long@0", "left-long@6", "left-long@12", "left-long@16", "right-broken", "up-short@0"]
    for index, start in enumerate([0, 6, 12, 16]):
        item = data[index]
        assert item["name"] == names[index] and item["label"] == "left"
        assert item["frame_indices"].tolist() == list(range(start, start + 4))
        assert frame_levels(item["frames"]) == list(range(start, start + 4))  # decord's pixels
    assert frame_levels(data[5]["frames"]) == [0, 1, 2, 2]  # shorter than a window: short_clips=pad
    with pytest.raises(VideoAttrError, match="could not be decoded"):
        data[4]
    assert len(VideoDataset(tmp_path, tiny_spec(4), windows=6, limit=2)) == 2  # limit counts windows


def test_windows_is_a_stride_of_one_frame_or_more():
    validate(compose_config(["dataset.windows=16"]))
    with pytest.raises(VideoAttrError, match="windows"):
        validate(compose_config(["dataset.windows=0"]))


@pytest.mark.slow
def test_a_long_videos_timeline_peaks_on_its_evidence(tmp_path):
    """grad on the synthetic CNN over a 96-frame video whose red disk moves only in its 4th 16-frame clip:
    the timeline's peak is one of the disk's frames, its best window is the one holding them, and the
    report shows the timeline."""
    video, evidence = save_long_video(tmp_path / "videos", seed=3, label=2, clips=6, evidence_clip=3)
    run = tmp_path / "run"
    run_cli(
        "method=grad", f"dataset.root={video.parent}", "dataset.masks=false", "dataset.windows=16",
        "metrics.groups=[]", "figures=false", f"hydra.run.dir={run}",
    )  # fmt: skip
    results = pd.read_csv(run / "results.csv")
    assert sorted(results["clip"]) == sorted(f"{video.stem}@{s}" for s in range(0, 96, 16))
    table = pd.read_csv(run / "timelines.csv")
    assert table["video"].tolist() == [video.stem] and table["windows"].tolist() == [6]
    assert evidence[int(table["peak_frame"][0])]
    assert table["best_window_start"][0] == 48
    with np.load(run / "timelines" / f"{video.stem}.npz") as line:
        assert line["relevance"].shape == (96,) and line["window_start"].tolist() == list(range(0, 96, 16))
        by_start = results.set_index(results["clip"].str.split("@").str[1].astype(int))["target_prob"]
        assert line["window_prob"] == pytest.approx(by_start.sort_index().to_numpy())
    assert (run / "timelines" / f"{video.stem}.png").stat().st_size > 10_000
    run_module("videoattr.report", str(run))
    html = (run / "report.html").read_text()
    assert 'id="timelines"' in html and f'alt="{video.stem}: timeline"' in html
    assert json.loads((run / "summary.json").read_text())["clips_done"] == 6

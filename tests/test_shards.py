"""Shards of a data set (dataset.shard / dataset.num_shards), run as separate processes and merged."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pandas as pd
import pytest

from helpers import ROOT, cli_command, cli_env, compose_config, run_cli, run_module
from videoattr.data.shards import shard_of
from videoattr.errors import VideoAttrError
from videoattr.merge import merge
from videoattr.outputs import config_hash
from videoattr.schema import validate

# A fast job on the 8 synthetic clips: gradients, no figures, no metrics.
FAST = ["method=grad", "figures=false", "~metrics"]
CLIPS = [f"{d}-100_{i}" for d in ("down", "left", "right", "up") for i in (0, 1)]


def test_shards_are_balanced_disjoint_complete_and_the_same_every_time():
    items = [f"clip{i:02d}" for i in range(11)]
    shards = [shard_of(items, i, 4) for i in range(4)]
    assert sorted(c for s in shards for c in s) == items
    assert sorted(len(s) for s in shards) == [2, 3, 3, 3]
    assert shards == [shard_of(items, i, 4) for i in range(4)] and shard_of(items, None, 1) == items
    with pytest.raises(VideoAttrError, match="num_shards=12 is more than the 11 clip"):
        shard_of(items, 0, 12)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["dataset.num_shards=4"], "Invalid dataset.shard=null: use a shard index from 0 to 3"),
        (["dataset.shard=4", "dataset.num_shards=4"], "Invalid dataset.shard=4: use a shard index from 0 to 3"),
        (["dataset.shard=0", "dataset.num_shards=0"], "Invalid dataset.num_shards=0"),
        (["dataset.num_workers=-1"], "Invalid dataset.num_workers=-1"),
    ],
)
def test_bad_shard_settings_are_refused_in_one_line(overrides, message):
    with pytest.raises(VideoAttrError, match=message.replace("[", r"\[")):
        validate(compose_config(overrides))


def test_the_shards_of_a_config_share_its_hash():
    first = config_hash(compose_config(["dataset.shard=0", "dataset.num_shards=3"]))
    assert config_hash(compose_config(["dataset.shard=2", "dataset.num_shards=3", "dataset.num_workers=2"])) == first
    assert config_hash(compose_config(["dataset.shard=0", "dataset.num_shards=3", "seed=1"])) != first


def shard_args(base, index: int, *extra: str) -> list[str]:
    return [*FAST, f"dataset.shard={index}", "dataset.num_shards=2", f"hydra.run.dir={base}/shard{index}", *extra]


def killed_after_first_clip(base, index: int) -> None:
    """Start shard ``index`` and SIGKILL it as soon as its first clip's results are written."""
    clips = base / f"shard{index}" / "clips"
    process = subprocess.Popen(
        cli_command(shard_args(base, index)), cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while process.poll() is None and not any(clips.glob("[!.]*.npz")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()


@pytest.mark.slow
def test_shards_run_apart_killed_rerun_and_merged_hold_every_clip_once(tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(*shard_args(sweep, 0, "dataset.num_workers=2"))
    with pytest.raises(VideoAttrError, match=r"Cannot merge .*: missing shard\(s\) 1 of 2: run them"):
        merge(sweep)
    killed_after_first_clip(sweep, 1)
    with pytest.raises(VideoAttrError, match=r"unfinished shard 1 \(.*shard1\) of 2"):
        merge(sweep)
    assert not (sweep / "results.csv").exists()  # nothing written by a refused merge
    resumed = run_cli(*shard_args(sweep, 1, "dataset.num_workers=0"))
    assert "results exist (overwrite=true recomputes)" in resumed.stdout + resumed.stderr

    out = run_module("videoattr.merge", str(sweep))
    assert out.stdout.startswith(f"Merged: {sweep}/results.csv")
    table = pd.read_csv(sweep / "results.csv")
    assert sorted(table["clip"]) == CLIPS  # every clip exactly once
    summary = json.loads((sweep / "summary.json").read_text())
    assert (summary["clips_done"], summary["clips_failed"], summary["num_shards"]) == (8, 0, 2)
    assert sorted(p.stem for p in (sweep / "clips").glob("*.npz")) == CLIPS
    assert (sweep / "report.html").is_file()
    per_shard = pd.concat(pd.read_csv(sweep / f"shard{i}" / "results.csv") for i in range(2))
    assert sorted(per_shard["target_prob"]) == sorted(table["target_prob"])

    run_cli(*shard_args(sweep / "other", 0, "seed=1"))  # shard 0 again, of another config
    with pytest.raises(VideoAttrError, match=r"Shards of different configs under .*\(config hash \w+\)"):
        merge(sweep)

"""Shards of a data set (dataset.shard / dataset.num_shards), run as separate processes and merged."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pandas as pd
import pytest

from tests.helpers import ROOT, cli_command, cli_env, compose_config, run_cli, run_module
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


def shard_run(base, index: int, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_cli(
        *FAST,
        f"dataset.shard={index}",
        "dataset.num_shards=3",
        f"hydra.run.dir={base}/shard{index}",
        *extra,
        check=check,
    )


def killed_after_first_clip(base, index: int) -> None:
    """Start shard ``index`` and SIGKILL it as soon as its first clip's results are written."""
    clips = base / f"shard{index}" / "clips"
    args = [*FAST, f"dataset.shard={index}", "dataset.num_shards=3", f"hydra.run.dir={base}/shard{index}"]
    process = subprocess.Popen(
        cli_command(args), cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    while process.poll() is None and not any(clips.glob("[!.]*.npz")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()


@pytest.mark.slow
def test_shards_run_apart_killed_rerun_and_merged_hold_every_clip_once(tmp_path):
    sweep = tmp_path / "sweep"
    shard_run(sweep, 0, "dataset.num_workers=2")
    killed_after_first_clip(sweep, 1)
    with pytest.raises(VideoAttrError, match=r"missing shard\(s\) 2; unfinished shard 1 \(.*shard1\) of 3"):
        merge(sweep)
    assert not (sweep / "results.csv").exists()  # nothing written by a refused merge
    resumed = shard_run(sweep, 1, "dataset.num_workers=0")
    assert "results exist (overwrite=true recomputes)" in resumed.stdout + resumed.stderr
    shard_run(sweep, 2)

    out = run_module("videoattr.merge", str(sweep))
    assert out.stdout.startswith(f"Merged: {sweep}/results.csv")
    table = pd.read_csv(sweep / "results.csv")
    assert sorted(table["clip"]) == CLIPS  # every clip exactly once
    summary = json.loads((sweep / "summary.json").read_text())
    assert (summary["clips_done"], summary["clips_failed"], summary["num_shards"]) == (8, 0, 3)
    assert sorted(p.stem for p in (sweep / "clips").glob("*.npz")) == CLIPS
    assert (sweep / "report.html").is_file()
    per_shard = pd.concat(pd.read_csv(sweep / f"shard{i}" / "results.csv") for i in range(3))
    assert sorted(per_shard["target_prob"]) == sorted(table["target_prob"])

    other = tmp_path / "sweep" / "other"  # shard 0 again, of another config (seed=1)
    run_cli(*FAST, "dataset.shard=0", "dataset.num_shards=3", f"hydra.run.dir={other}", "seed=1")
    refused = run_module("videoattr.merge", str(sweep), check=False)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: Shards of different configs under") and "config hash" in refused.stderr

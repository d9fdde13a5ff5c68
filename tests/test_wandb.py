"""Tracking: wandb offline runs of a real sweep (config, fit terms, per-clip metrics, media, loss curves,
the results table with the figures inline, one group), and the step numbering that keeps successive fits
on one logger monotonic."""

import csv
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pytorch_lightning.loggers import CSVLogger

from helpers import ROOT, tiny_net
from videoattr import ASSETS
from videoattr.methods.perturbation.fit import fit_masks
from videoattr.tracking import ContinuedSteps

CLIP = "up-100_0"


def wandb_records(path: Path) -> list:
    """The records of an offline run's ``.wandb`` file (LevelDB log format: 32 KiB blocks of chunks,
    each with a 7-byte header: checksum, length, type 1 full / 2 first / 3 middle / 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    records, parts, pos = [], [], 7
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        parts.append(data[pos + 7 : pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(parts))
            records.append(record)
            parts = []
    return records


def offline_run(run_dir: Path) -> dict:
    """An offline run's group, name, config, history rows (key -> value) and artifacts (name -> type and
    manifest: path in the artifact -> the staged local file) from its ``.wandb`` file."""
    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    run = {"dir": path.parent, "history": [], "artifacts": {}}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(group=record.run.run_group, name=record.run.display_name)
        elif kind == "config":
            # Later records add keys (e.g. the charts' specs): the config is their union.
            run.setdefault("config", {}).update(
                {item.key: json.loads(item.value_json) for item in record.config.update}
            )
        elif kind == "artifact":
            files = {entry.path: Path(entry.local_path) for entry in record.artifact.manifest.contents}
            run["artifacts"][record.artifact.name] = {"type": record.artifact.type, "files": files}
        elif kind == "history":
            run["history"].append(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            )
    return run


@pytest.mark.slow
def test_wandb_offline_sweep_logs_config_fit_terms_clip_metrics_and_media_in_one_group(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for suffix in (".mp4", ".npz"):
        shutil.copy(ASSETS / "synthetic" / "clips" / f"{CLIP}{suffix}", clips)
    # STEP with 3 iterations as a method choice of its own, so that one sweep holds a backprop and a fit job.
    (tmp_path / "conf" / "method").mkdir(parents=True)
    (tmp_path / "conf" / "method" / "step3.yaml").write_text("defaults:\n  - step\n  - _self_\niterations: 3\n")
    sweep = tmp_path / "sweep"
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        WANDB_MODE="offline",
        WANDB_DIR=str(tmp_path),
        WANDB_CONFIG_DIR=str(tmp_path / "config"),
        WANDB_CACHE_DIR=str(tmp_path / "cache"),
        WANDB_DATA_DIR=str(tmp_path / "data"),  # where an offline run stages its artifacts' files
    )
    out = subprocess.run(
        [
            sys.executable,
            "run.py",
            "-m",
            "logger=wandb",
            "method=grad,step3",
            f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
            f"dataset.root={clips}",
            "metrics.groups=[localisation]",
            "trainer.log_every_n_steps=1",
            "trainer.enable_progress_bar=false",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = {
        method: offline_run(sweep / "synthetic" / method / "metrics.groups=[localisation]")
        for method in ("grad", "step")
    }
    for method, run in runs.items():
        results = pd.read_csv(run["dir"].parents[1] / "results.csv").iloc[0]
        assert run["group"] == "sweep"  # the sweep directory's name: the whole sweep is one group
        assert run["name"] == f"synthetic-{method}-metrics.groups=[localisation]"
        assert run["config"]["method"]["name"] == method and run["config"]["area"] == 0.1
        (clip_row,) = [row for row in run["history"] if "clip/pointing_game" in row]
        for metric in ("pointing_game", "energy_in_mask", "target_prob"):
            assert clip_row[f"clip/{metric}"] == pytest.approx(results[metric])
        for key, folder, suffix in (("overlay", "videos", ".gif"), ("figure", "images", ".png")):
            logged = clip_row[f"{key}/{CLIP}/path"]
            assert logged.startswith(f"media/{folder}/{key}/{CLIP}") and logged.endswith(suffix)
            assert (run["dir"] / "files" / logged).stat().st_size > 1000
        (means,) = [row for row in run["history"] if "mean/pointing_game" in row]
        assert means["mean/pointing_game"] == pytest.approx(results["pointing_game"])
        (table_row,) = [row for row in run["history"] if "results/path" in row]
        table = json.loads((run["dir"] / "files" / table_row["results/path"]).read_text())
        assert table["data"][0][table["columns"].index("clip")] == CLIP
        # The table as wandb shows it (a run_table artifact): the clip's figure inline in its "figure" column.
        (artifact,) = [a for name, a in run["artifacts"].items() if name.endswith("-results")]
        assert artifact["type"] == "run_table"
        shown = json.loads(artifact["files"]["results.table.json"].read_text())
        assert shown["columns"][:2] == ["clip", "figure"]
        (row,) = shown["data"]
        image = row[1]
        figure = (run["dir"].parents[1] / "figures" / f"{CLIP}.png").read_bytes()
        assert image["_type"] == "image-file" and image["sha256"] == hashlib.sha256(figure).hexdigest()
        assert artifact["files"][image["path"]].read_bytes() == figure
        assert row[shown["columns"].index("pointing_game")] == pytest.approx(results["pointing_game"])
        steps = [row["trainer/global_step"] for row in run["history"]]
        assert steps == sorted(steps)

    fit = [row for row in runs["step"]["history"] if "reward" in row]
    assert [row["trainer/global_step"] for row in fit] == [0, 1, 2]
    assert all({"regulariser", "core", "prob"} <= set(row) for row in fit)
    assert not any("reward" in row for row in runs["grad"]["history"])
    # The clip's own loss curves, one line-series chart per term (one line per area), as the .npz holds them.
    (clip_row,) = [row for row in runs["step"]["history"] if "clip/pointing_game" in row]
    run = runs["step"]
    with np.load(run["dir"].parents[1] / "clips" / f"{CLIP}.npz") as data:
        for term in ("reward", "regulariser", "core", "prob"):
            chart = json.loads((run["dir"] / "files" / clip_row[f"loss/{CLIP}/{term}_table/path"]).read_text())
            assert chart["columns"] == ["step", "lineKey", "lineVal"]
            assert [(step, key) for step, key, _ in chart["data"]] == [
                (1, "area 0.1"),
                (2, "area 0.1"),
                (3, "area 0.1"),
            ]
            assert [value for _, _, value in chart["data"]] == pytest.approx(data[f"history_{term}"][0].tolist())
    assert not any(key.startswith("loss/") for row in runs["grad"]["history"] for key in row)


def test_successive_fits_and_clip_numbers_share_one_rising_step_count(tmp_path):
    logger = ContinuedSteps(CSVLogger(tmp_path, name="logs"))
    trainer = {
        "accelerator": "cpu",
        "devices": 1,
        "log_every_n_steps": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    small = {"grid_step": 4, "sigma": 3, "core_shape": [3, 5, 5], "core_stride": [1, 5, 5]}
    histories = []
    for seed in (1, 2):
        clip = torch.randn(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(seed))
        result = fit_masks(
            "step",
            tiny_net(3),
            clip,
            torch.tensor([1]),
            areas=[0.1],
            iterations=3,
            trainer=trainer,
            logger=logger,
            **small,
        )
        histories.append(result.extras["history"]["reward"][0, 0])
        logger.log_metrics({"clip/score": float(seed)})
    logger.save()
    with open(tmp_path / "logs" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(8))
    rewards = [float(r["reward"]) for r in rows if r["reward"]]
    assert rewards == pytest.approx([*histories[0], *histories[1]], rel=1e-6)
    assert [(int(r["step"]), float(r["clip/score"])) for r in rows if r["clip/score"]] == [(3, 1.0), (7, 2.0)]


def test_wandb_without_credentials_fails_at_once_with_one_sentence(tmp_path, monkeypatch):
    from pytorch_lightning.loggers import WandbLogger

    from videoattr.errors import VideoAttrError
    from videoattr.tracking import start

    for key in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key in ("HOME", "WANDB_CONFIG_DIR", "WANDB_DIR", "WANDB_CACHE_DIR"):
        monkeypatch.setenv(key, str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("WANDB_MODE", "online")
    with pytest.raises(VideoAttrError, match=r"^wandb could not start a run .*WANDB_MODE=offline or logger=csv\.$"):
        start(WandbLogger(project="videoattr", save_dir=str(tmp_path)), {"area": 0.1})

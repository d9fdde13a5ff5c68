"""Bad input on the command line: ``python run.py ...`` exits with status 2, the last line of stderr is
one sentence naming the problem and its fix, and no run directory (so no partial result) remains.

Every case is checked in-process (composed, validated and run as ``run.py`` does, the error turned into
its line by ``videoattr.cli.user_error_message``, as in test_config_errors); in the full tier two cases
and a good frame data set also run as ``python run.py`` subprocesses, two at a time.
"""

from __future__ import annotations

import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import graded_frames, run_cli, run_in_process, write_frame_folder, write_video_file

FAST = ["method=grad", "metrics.groups=[]", "figures=false"]


def make_inputs(base: Path) -> dict[str, Path]:
    """Tiny real inputs, each broken in one way (and one good frame dataset)."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    paths = {name: base / name for name in ("empty", "mixed", "corrupt", "short", "sizes", "label", "good")}
    paths["empty"].mkdir()
    write_video_file(paths["mixed"] / "up-a.mp4", noise)
    write_frame_folder(paths["mixed"], noise[:1])
    paths["corrupt"].mkdir()
    (paths["corrupt"] / "up-bad.mp4").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    write_video_file(paths["short"] / "up-short.mp4", noise[:4])
    folder = write_frame_folder(paths["sizes"] / "up-a", noise)
    write_frame_folder(base / "odd", noise[:1, :24])
    (base / "odd" / "000001.png").replace(folder / "000009.png")
    write_video_file(paths["label"] / "jumping-a.mp4", noise)
    grey = graded_frames(16, 32, 32)
    write_frame_folder(paths["good"] / "up-grey", grey[..., 0])
    rgba = np.concatenate([grey[:4], np.full((4, 32, 32, 1), 255, np.uint8)], axis=-1)
    write_frame_folder(paths["good"] / "down-rgba", rgba)
    paths["three_classes"] = base / "three.txt"
    paths["three_classes"].write_text("up\ndown\nleft\n")
    paths["corrupt_ckpt"] = base / "corrupt.pt"
    paths["corrupt_ckpt"].write_bytes(b"not a checkpoint" * 64)
    paths["r2plus1d_ckpt"] = base / "r2plus1d.pt"
    torch.save({"stem.0.weight": torch.zeros(45, 3, 1, 7, 7), "fc.bias": torch.zeros(400)}, paths["r2plus1d_ckpt"])
    return paths


# case -> (overrides, fragments of the message: the problem first, then the fix)
def cases(p: dict[str, Path]) -> dict[str, tuple[list[str], list[str]]]:
    videos = ["dataset=videos", *FAST]
    return {
        "missing_path": (
            [*videos, f"dataset.root={p['empty']}/nowhere"],
            ["does not exist", "set dataset.root"],
        ),
        "empty_folder": (
            [*videos, f"dataset.root={p['empty']}"],
            ["holds no videos or frame folders", "point dataset.root"],
        ),
        "frames_and_videos": (
            [*videos, f"dataset.root={p['mixed']}"],
            ["mixes video files and frame images", "separate roots"],
        ),
        "corrupt_video": (
            [*videos, f"dataset.root={p['corrupt']}"],
            ["up-bad.mp4 could not be decoded", "re-encode it"],
        ),
        "short_video": (
            [*videos, f"dataset.root={p['short']}"],
            ["has 4 frames but the model needs 16", "dataset.short_clips=pad"],
        ),
        "frame_sizes": (
            ["dataset=frames", *FAST, f"dataset.root={p['sizes']}"],
            ["differ in size (32x32", "32x24", "resize them"],
        ),
        "unknown_label": (
            [*videos, f"dataset.root={p['label']}"],
            ["label 'jumping', which is not in the class list", "dataset.label_file"],
        ),
        "class_count": (
            [*videos, f"dataset.root={p['label']}", f"dataset.classes={p['three_classes']}"],
            ["has 3 classes but model synthetic has 4", "dataset.classes=null"],
        ),
        "corrupt_checkpoint": (
            [*FAST, f"model.checkpoint={p['corrupt_ckpt']}"],
            ["is corrupt or not a plain state dict", "torch.save"],
        ),
        "wrong_checkpoint": (
            [*FAST, f"model.checkpoint={p['r2plus1d_ckpt']}"],
            [
                "does not fit the synthetic model",
                "checkpoint of R(2+1)D-18 (model=r2plus1d)",
                "choose the model config",
            ],
        ),
        "unknown_gradcam_layer": (
            [
                "method=grad_cam",
                "method.layer=layer9",
                "metrics.groups=[]",
                "figures=false",
                "dataset.limit=2",
            ],
            ["All 2 clips failed", "Unknown Grad-CAM layer 'layer9'", "set layer to one of layer1", "layer4"],
        ),
        "unsupported_method": (
            ["method=grad_cam", "model.gradcam_layer=null", "metrics.groups=[]"],
            ["Model 'synthetic' has no Grad-CAM layer", "use another method"],
        ),
    }


CASES = list(cases(defaultdict(Path)))
# Through run.py too: a clip that cannot be loaded (decord's own lines must not follow the error line)
# and a run whose every clip failed once it had started; the other stages' exit status and single line
# are checked through run.py by test_config_errors (a composition error, a range, a missing root).
THROUGH_RUN_PY = ["corrupt_video", "unknown_gradcam_layer"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("bad_input"))


def check_message(message: str, fragments: list[str]) -> None:
    """One sentence ending in a period, ``problem: fix``, holding ``fragments`` in their order."""
    assert "\n" not in message and message.endswith("."), message
    assert not re.search(r"[.!?]\s+[A-Z]", message), f"more than one sentence: {message}"
    assert ": " in message, f"no 'problem: fix' shape: {message}"
    positions = [message.find(fragment) for fragment in fragments]
    assert all(i >= 0 for i in positions), (fragments, message)
    assert positions == sorted(positions), f"the problem must come before the fix: {message}"


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_sentence_and_leaves_no_run_dir(inputs, tmp_path, case):
    overrides, fragments = cases(inputs)[case]
    message = run_in_process(overrides, tmp_path / "run")
    assert message is not None, f"{overrides} was accepted"
    check_message(message, fragments)
    assert not (tmp_path / "run").exists(), sorted(p.name for p in (tmp_path / "run").rglob("*"))


@pytest.fixture(scope="module")
def outcomes(inputs):
    base = inputs["empty"].parent
    all_cases = cases(inputs)
    jobs = {name: all_cases[name] for name in THROUGH_RUN_PY}
    good = ["dataset=frames", *FAST, f"dataset.root={inputs['good']}", "dataset.short_clips=pad"]
    jobs["good"] = (good, [])
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(run_cli, *overrides, f"hydra.run.dir={base / 'runs' / name}", cwd=base, check=False)
            for name, (overrides, _) in jobs.items()
        }
        return {name: (future.result(), jobs[name][1], base / "runs" / name) for name, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("case", THROUGH_RUN_PY)
def test_bad_input_ends_in_one_sentence_and_leaves_no_run_dir(outcomes, case):
    out, fragments, run_dir = outcomes[case]
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    check_message(last.removeprefix("error: "), fragments)
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert not run_dir.exists(), sorted(p.name for p in run_dir.rglob("*"))


@pytest.mark.slow
def test_grey_rgba_and_padded_short_frames_are_converted_and_explained(outcomes):
    out, _, run_dir = outcomes["good"]
    assert out.returncode == 0, out.stderr[-2000:]
    assert "up-grey are L: converted to RGB" in out.stderr
    assert "down-rgba are RGBA: converted to RGB" in out.stderr
    results = pd.read_csv(run_dir / "results.csv")
    assert sorted(results["clip"]) == ["down-rgba", "up-grey"]
    with np.load(run_dir / "clips" / "down-rgba.npz") as data:
        assert data["frame_indices"].tolist() == [0, 1, 2, 3] + [3] * 12
        assert data["maps"].shape == (1, 16, 112, 112)

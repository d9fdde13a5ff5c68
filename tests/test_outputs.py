"""Result files: atomic writes, resumable clip records, tables and figures."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import run_in_process
from videoattr.outputs import RunStore, atomic_write, safe_name
from videoattr.viz import overlay, save_animation, save_figure


def test_safe_name_replaces_spaces_and_odd_characters():
    assert safe_name("playing guitar-2enXX9xrIp0_7_10") == "playing_guitar-2enXX9xrIp0_7_10"
    assert safe_name("a/b:c") == "a_b_c"


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "x.npz"

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert list(tmp_path.iterdir()) == []


def test_run_store_marks_clips_done_only_for_its_config_hash(tmp_path):
    store = RunStore(tmp_path, "abc")
    assert not store.is_done("clip one")
    store.save_clip("clip one", {"maps": np.ones((1, 2, 3, 3), np.float32)}, [{"clip": "clip one", "m": 0.5}])
    assert store.is_done("clip one")
    assert not RunStore(tmp_path, "other").is_done("clip one")
    with np.load(tmp_path / "clips" / "clip_one.npz") as data:
        assert data["maps"].shape == (1, 2, 3, 3)
        assert json.loads(str(data["rows"])) == [{"clip": "clip one", "m": 0.5}]


def test_run_store_writes_tables(tmp_path):
    store = RunStore(tmp_path, "h")
    store.save_clip("b", {}, [{"clip": "b", "area": 0.1, "m": 2.0}])
    store.save_clip("a", {}, [{"clip": "a", "area": 0.1, "m": 1.0}, {"clip": "a", "area": 0.2, "m": 3.0}])
    store.write_tables([{"clip": "c", "error": "bad"}], {"mean": {"m": 2.0}})
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(table["clip"]) == ["a", "a", "b"]
    assert list(table["m"]) == [1.0, 3.0, 2.0]
    assert pd.read_csv(tmp_path / "errors.csv")["error"].tolist() == ["bad"]
    assert json.loads((tmp_path / "summary.json").read_text()) == {"mean": {"m": 2.0}}


def test_overlay_blends_the_colour_map_over_the_frame():
    frames = np.full((1, 2, 2, 3), 200, np.uint8)
    out = overlay(frames, np.zeros((1, 2, 2)), alpha=0.5)
    # jet(0) is dark blue (0, 0, 0.5): half of 200 plus half of the colour
    assert out[0, 0, 0].tolist() == [100, 100, round(100 + 0.5 * 0.5 * 255)]


def test_figure_and_animation_are_real_images(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    maps = np.random.default_rng(1).random((2, 4, 16, 16))
    save_figure(tmp_path / "f.png", frames, maps, ["area 0.1", "area 0.2"], "title")
    save_animation(tmp_path / "f.gif", frames, maps)
    with Image.open(tmp_path / "f.png") as png:
        assert png.format == "PNG" and png.size[0] > 100
    with Image.open(tmp_path / "f.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 4 and gif.size == (16 * 3, 16)


def test_maps_stored_as_float16_keep_the_results_of_the_float32_maps(tmp_path):
    """maps_dtype=float16 halves what each clip's maps take; the rows are computed before, from float32."""
    runs = {}
    for dtype in ("float32", "float16"):
        overrides = ["method=grad_cam", "dataset.clips=[up-100_0]", "figures=false", f"maps_dtype={dtype}"]
        assert run_in_process(overrides, tmp_path / dtype) is None
        runs[dtype] = tmp_path / dtype
    full, half = (np.load(runs[d] / "clips" / "up-100_0.npz") for d in ("float32", "float16"))
    assert full["maps"].dtype == np.float32 and half["maps"].dtype == np.float16
    np.testing.assert_allclose(half["maps"], full["maps"], atol=1e-3)
    assert (runs["float16"] / "clips" / "up-100_0.npz").stat().st_size < (
        runs["float32"] / "clips" / "up-100_0.npz"
    ).stat().st_size
    tables = [pd.read_csv(runs[d] / "results.csv").drop(columns=["seconds"]) for d in ("float32", "float16")]
    pd.testing.assert_frame_equal(*tables)

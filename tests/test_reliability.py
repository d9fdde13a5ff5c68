"""One bad clip never stops a run, a bad output location is one line, and the terminal stays quiet.

In process (fast): the boundary between a clip's failure and a bug, a batch the model fails on
explained again clip by clip (before and inside a perturbation fit), a full disk while writing, the
temporary files of a killed run, decoder messages captured at the file-descriptor level.
Through ``python run.py`` (slow): run directories that cannot be written, the quiet terminal and its
switch, a multi-process (DDP) run equal to a one-process one.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import ROOT, cli_command, cli_env, compose_config, run_cli, write_video_file
from videoattr import outputs
from videoattr.errors import OutputError, VideoAttrError, is_clip_error, reason
from videoattr.outputs import RunStore, atomic_write
from videoattr.terminal import decoder_messages, decoder_reason


def noise(seed: int, frames: int = 8, level: int | None = None) -> np.ndarray:
    """T x 32 x 32 x 3 frames: random pixels, or all at ``level`` (a bright clip: 250)."""
    if level is not None:
        return np.full((frames, 32, 32, 3), level, dtype=np.uint8)
    return np.random.default_rng(seed).integers(0, 256, (frames, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """up-a, up-b (bright: Picky fails on it), up-c: three 8-frame 32 x 32 videos; and classes.txt."""
    base = tmp_path_factory.mktemp("picky")
    write_video_file(base / "clips" / "up-a.mp4", noise(0))
    write_video_file(base / "clips" / "up-b.mp4", noise(1, level=250))
    write_video_file(base / "clips" / "up-c.mp4", noise(2))
    (base / "classes.txt").write_text("up\ndown\nleft\nright\n")
    return base


# A custom model of helpers (Picky) on 4-frame 32 x 32 videos; the class list and root are the test's.
PICKY = [
    "model=custom",
    "model.target=helpers.Picky",
    "model.num_frames=4",
    "model.resize=[32,32]",
    "model.crop=[32,32]",
    "model.mean=[0.5,0.5,0.5]",
    "model.std=[0.25,0.25,0.25]",
    "dataset=videos",
]


def picky_config(base: Path, *extra: str):
    return compose_config(
        [
            *PICKY,
            f"model.classes={base / 'classes.txt'}",
            f"dataset.root={base / 'clips'}",
            "dataset.batch_size=3",
            "metrics.groups=[]",
            "figures=false",
            "trainer.enable_progress_bar=false",
            *extra,
        ]
    )


def run_job(cfg, run_dir: Path):
    from videoattr.runner import Job

    job = Job(cfg, run_dir)
    job.run()
    return job


def errors_of(run_dir: Path) -> dict[str, tuple[str, str]]:
    table = pd.read_csv(run_dir / "errors.csv")
    assert list(table.columns) == ["clip", "stage", "error", "path"]
    return {row.clip: (row.stage, row.error) for row in table.itertuples()}


def hidden_files(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob(".*") if p.name != ".hydra"]


# ---------------------------------------------------------------- which errors are a clip's


@pytest.mark.parametrize(
    "error, clip",
    [
        (VideoAttrError("x"), True),
        (RuntimeError("CUDA out of memory"), True),
        (torch.OutOfMemoryError("out of memory"), True),
        (ValueError("bad shape"), True),
        (OSError(errno.EIO, "I/O error"), True),
        (EOFError(), True),
        (zipfile.BadZipFile("bad"), True),
        (OutputError("x"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),
        (OSError(errno.EROFS, "Read-only file system"), False),
        (NotImplementedError(), False),
        (torch.distributed.DistBackendError("Connection closed by peer"), False),
        (TypeError("bug"), False),
        (AttributeError("bug"), False),
        (KeyError("bug"), False),
        (IndexError("bug"), False),
        (AssertionError("bug"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_a_clip_error_is_the_datas_or_the_models_never_a_bug(error, clip):
    assert is_clip_error(error) is clip


def test_the_reason_of_a_failure_is_one_line():
    assert reason(VideoAttrError("Clip x is bad: fix it.")) == "Clip x is bad: fix it."
    assert reason(RuntimeError("shape mismatch.\n  at line 3")) == "RuntimeError: shape mismatch"


# ---------------------------------------------------------------- a batch with a bad clip


def test_a_model_error_fails_only_its_clip_of_the_batch(clips, tmp_path):
    """The batch's forward pass fails on up-b: the three clips are scored again one by one."""
    job = run_job(picky_config(clips, "method=grad"), tmp_path)
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["up-a.npz", "up-c.npz"]
    assert errors_of(tmp_path) == {"up-b": ("model", "RuntimeError: Picky cannot take clip 0 of a batch of 1")}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["clips_done"], summary["clips_failed"], summary["clips_failed_by_stage"]) == (2, 1, {"model": 1})
    assert len(job.errors) == 1


@pytest.mark.slow
def test_a_model_error_inside_a_fit_fails_only_its_clip(clips, tmp_path):
    """Picky fails on up-b only with autograd on: the 3-clip fit fails (PairFailure) and is fitted again
    clip by clip; the good clips' masks equal those of a run without the bad clip."""
    fit = ["method=3d_ep", "method.iterations=3", "method.sigma=11", "method.compile=false", "+model.net.in_fit=true"]
    run_job(picky_config(clips, *fit), tmp_path / "all")
    assert errors_of(tmp_path / "all") == {
        "up-b": ("explain", "RuntimeError: Picky cannot take clip 0 of a batch of 1")
    }
    alone = tmp_path / "alone"
    run_job(picky_config(clips, *fit, "dataset.clips=[up-a,up-c]"), alone)
    for name in ("up-a", "up-c"):
        with (
            np.load(tmp_path / "all" / "clips" / f"{name}.npz") as got,
            np.load(alone / "clips" / f"{name}.npz") as want,
        ):
            np.testing.assert_array_equal(got["maps"], want["maps"])


def test_a_bug_in_the_model_stops_the_run(clips, tmp_path):
    with pytest.raises(TypeError, match="Picky cannot take clip"):
        run_job(picky_config(clips, "method=grad", "+model.net.error=TypeError"), tmp_path)


def test_fail_fast_stops_at_the_model_error_with_its_traceback(clips, tmp_path):
    with pytest.raises(RuntimeError, match="Picky cannot take clip 0 of a batch of 1"):
        run_job(picky_config(clips, "method=grad", "fail_fast=true", "dataset.batch_size=1"), tmp_path)
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["up-a.npz"]  # the clip before it


# ---------------------------------------------------------------- a full disk


def test_a_full_disk_stops_the_run_in_one_sentence_and_leaves_no_partial_file(clips, tmp_path, monkeypatch):
    """The second clip's .npz cannot be written: the run stops with an OutputError naming that file;
    the first clip stays done, nothing half written remains, no table claims a result; a rerun resumes."""
    save = np.savez_compressed
    calls = []

    def full_after_one(file, **arrays):
        calls.append(file)
        if len(calls) == 2:
            Path(file).write_bytes(b"half")  # what a full disk leaves before the error
            raise OSError(errno.ENOSPC, "No space left on device")
        save(file, **arrays)

    monkeypatch.setattr(outputs.np, "savez_compressed", full_after_one)
    with pytest.raises(OutputError) as caught:
        run_job(picky_config(clips, "method=grad", "dataset.clips=[up-a,up-c]"), tmp_path)
    assert str(caught.value) == (
        f"Could not write {tmp_path / 'clips' / 'up-c.npz'} (No space left on device): free space on its disk "
        "or fix its permissions, then rerun the same command to resume."
    )
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["up-a.npz"]
    assert hidden_files(tmp_path) == []
    assert not any((tmp_path / name).exists() for name in ("results.csv", "errors.csv", "summary.json"))
    monkeypatch.setattr(outputs.np, "savez_compressed", save)
    run_job(picky_config(clips, "method=grad", "dataset.clips=[up-a,up-c]"), tmp_path)
    assert sorted(pd.read_csv(tmp_path / "results.csv")["clip"]) == ["up-a", "up-c"]


def test_a_rerun_removes_the_temporary_files_of_a_killed_run_and_a_stale_errors_table(tmp_path):
    store = RunStore(tmp_path, "abc")
    (tmp_path / "clips").mkdir()
    left = [tmp_path / "clips" / ".up-a.npz.k2x_9QzA.npz", tmp_path / ".results.csv.abcdefgh.csv"]
    for path in left:
        path.write_bytes(b"half")
    kept = tmp_path / "figures" / "up-b.png"
    kept.parent.mkdir()
    kept.write_bytes(b"x")
    store.remove_temporary()
    assert not any(path.exists() for path in left) and kept.exists()
    (tmp_path / "errors.csv").write_text("clip,error\nup-a,old\n")
    store.write_tables([], {})
    assert not (tmp_path / "errors.csv").exists()


def test_result_files_get_the_permissions_of_an_ordinary_file(tmp_path):
    atomic_write(tmp_path / "a.txt", lambda tmp: tmp.write_text("x"))
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


# ---------------------------------------------------------------- decoder messages


def test_decoder_lines_are_kept_for_the_error_and_other_lines_pass(capfd):
    with decoder_messages() as lines:
        os.write(2, b"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55fe64f6a880] moov atom not found\n")
        os.write(2, b"[18:54:28] /src/video/video_reader.cc:83: ERROR opening: /x/a.mp4, Invalid data found\n")
        os.write(2, b"something else\n")
    assert capfd.readouterr().err == "something else\n"
    assert decoder_reason(lines, "/x/a.mp4") == "moov atom not found; Invalid data found"


def test_a_corrupt_video_prints_nothing_and_fails_with_decords_reason(tmp_path, capfd):
    from videoattr.data.readers import open_clip

    path = tmp_path / "up-bad.mp4"
    path.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(VideoAttrError) as caught:
        open_clip(path)
    assert capfd.readouterr().err == ""
    assert str(caught.value) == (
        f"{path} could not be decoded (moov atom not found; Invalid data found when processing input): "
        "re-encode it or remove it from the folder."
    )


def test_threads_decoding_at_once_lose_no_line(tmp_path, capfd):
    """Other threads' stderr lines written while one decodes reach stderr, once each."""
    from videoattr.data.readers import open_clip

    path = tmp_path / "up-bad.mp4"
    path.write_bytes(b"\x00garbage" * 512)
    failures = []

    def decode(i: int) -> None:
        for _ in range(5):
            os.write(2, f"thread {i}\n".encode())
            try:
                open_clip(path)
            except VideoAttrError as err:
                failures.append(str(err))

    threads = [threading.Thread(target=decode, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == sorted(f"thread {i}" for i in range(4) for _ in range(5))
    assert len(failures) == 20 and all("(moov atom not found; Invalid data found" in f for f in failures)


# ---------------------------------------------------------------- through run.py (slow)

# tests/ on the path of the run: helpers.Picky
PICKY_ENV = {"PYTHONPATH": str(ROOT / "tests")}


def last_line(out) -> str:
    return out.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def locations(tmp_path_factory):
    """A file where the run directory goes, a directory below a file, a sweep directory that is a file,
    and a sweep whose second job's directory is a file."""
    base = tmp_path_factory.mktemp("locations")
    (base / "a_file").write_text("x")
    (base / "sweep").mkdir()
    (base / "sweep" / "grad_x_input").write_text("x")
    fast = ["method=grad", "dataset.limit=1", "metrics.groups=[]", "figures=false"]
    runs = {
        "file": [*fast, f"hydra.run.dir={base / 'a_file'}"],
        "below_a_file": [*fast, f"hydra.run.dir={base / 'a_file' / 'run'}"],
        "sweep_file": ["-m", *fast, f"hydra.sweep.dir={base / 'a_file'}"],
        "sweep_job_file": [
            "-m",
            *fast,
            "method=grad,grad_x_input",
            f"hydra.sweep.dir={base / 'sweep'}",
            "hydra.sweep.subdir=${method.name}",
        ],
    }
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(run_cli, *args, cwd=base, check=False) for name, args in runs.items()}
        return base, {name: future.result() for name, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, path, why, key",
    [
        ("file", "a_file", "File exists: it is a file", "hydra.run.dir"),
        ("below_a_file", "a_file/run", "Not a directory", "hydra.run.dir"),
        ("sweep_file", "a_file", "File exists: it is a file", "hydra.sweep.dir"),
        ("sweep_job_file", "sweep/grad_x_input", "File exists: it is a file", "hydra.sweep.dir"),
    ],
)
def test_a_run_directory_that_cannot_be_written_is_one_line(locations, case, path, why, key):
    base, outs = locations
    out = outs[case]
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr.strip() == (
        f"error: Cannot write {base / path} ({why}): set {key} to a folder you can write, on a disk with free space."
    )
    assert (base / "a_file").read_text() == "x" and (base / "sweep" / "grad_x_input").read_text() == "x"


# Lightning's banners and tip, torch's warning, decord's C++ log line and FFmpeg's ("[mov,mp4,... @ 0x...]")
NOISE = (
    "GPU available",
    "TPU available",
    "litlogger",
    "Tip:",
    "CUDA_HOME",
    "ERROR opening",
    "video_reader.cc",
    "[mov,",
)


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    """The same run (a good clip and a corrupt one, 3D-EP compiled) quiet by default, with verbose=true,
    and with VIDEOATTR_VERBOSE=1."""
    base = tmp_path_factory.mktemp("terminal")
    write_video_file(base / "clips" / "up-a.mp4", noise(0))
    (base / "clips" / "up-bad.mp4").write_bytes(b"\x00garbage" * 512)
    (base / "classes.txt").write_text("up\ndown\nleft\nright\n")
    args = [*PICKY, f"model.classes={base / 'classes.txt'}", f"dataset.root={base / 'clips'}", "method=3d_ep"]
    args += ["method.iterations=2", "method.sigma=11", "metrics.groups=[]", "figures=false"]
    runs = {"quiet": ([], {}), "verbose": (["verbose=true"], {}), "env": ([], {"VIDEOATTR_VERBOSE": "1"})}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(
                run_cli, *args, *extra, f"hydra.run.dir={base / name}", cwd=base, env={**PICKY_ENV, **env}
            )
            for name, (extra, env) in runs.items()
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.slow
def test_a_default_run_prints_what_matters_only(terminal):
    out = terminal["quiet"]
    printed = out.stdout + out.stderr
    assert [n for n in NOISE if n in printed] == []
    assert out.stderr == ""
    lines = out.stdout.splitlines()
    bad = [line for line in lines if "clip up-bad failed: " in line]
    assert len(bad) == 1 and bad[0].endswith(
        "up-bad.mp4 could not be decoded (moov atom not found; Invalid data found when processing input): "
        "re-encode it or remove it from the folder."
    )
    assert "Epoch 0/0" in out.stdout  # the progress bar stays
    assert "Explained 1 clip(s) with 3d_ep on custom; 1 failed (errors.csv)." in lines


@pytest.mark.slow
@pytest.mark.parametrize("switch", ["verbose", "env"])
def test_verbose_shows_what_the_libraries_print(terminal, switch):
    from torch.utils import cpp_extension

    out = terminal[switch]
    printed = out.stdout + out.stderr
    shown = ["GPU available", "TPU available", "litlogger", "ERROR opening", "video_reader.cc", "[mov,"]
    # torch warns about CUDA_HOME where it finds one but no CUDA runtime (as on a CPU machine with CUDA tools)
    if cpp_extension.CUDA_HOME is not None and not torch.cuda.is_available():
        shown.append("CUDA_HOME")
    assert [n for n in shown if n not in printed] == []
    assert "ERROR opening" in out.stderr  # decord's own line, on stderr as it prints it


@pytest.fixture(scope="module")
def ddp_and_single(tmp_path_factory):
    """The same 3D-EP run (two areas, batches of 2 clips) in one process and in 3 gloo processes.
    Clips: a, b (bright: the model fails on it on rank 1 only), c, d (corrupt), e, f. With 3 processes
    the batches are [a] (b failed), [c, e] (d failed) and [f], the last and smaller: 2, 4 and 2 (clip,
    area) pairs on 3 ranks, so fewer pairs than ranks and counts the ranks do not divide."""
    base = tmp_path_factory.mktemp("ddp_run")
    for i, name in enumerate("acef"):
        write_video_file(base / "clips" / f"up-{name}.mp4", noise(i))
    write_video_file(base / "clips" / "up-b.mp4", noise(9, level=250))
    (base / "clips" / "up-d.mp4").write_bytes(b"\x00garbage" * 512)
    (base / "classes.txt").write_text("up\ndown\nleft\nright\n")
    args = [*PICKY, f"model.classes={base / 'classes.txt'}", "+model.net.rank=1", f"dataset.root={base / 'clips'}"]
    args += ["dataset.batch_size=2", "method=3d_ep", "method.iterations=3", "method.sigma=11", "method.compile=false"]
    args += ["area=[0.05,0.1]", "metrics.groups=[faithfulness]", "figures=false"]
    ddp = ["trainer.devices=3", "trainer.strategy=ddp", "trainer.accelerator=cpu"]
    runs = {"single": [], "ddp": ddp}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(run_cli, *args, *extra, f"hydra.run.dir={base / name}", cwd=base, env=PICKY_ENV)
            for name, extra in runs.items()
        }
        return {name: (future.result(), base / name) for name, future in futures.items()}


@pytest.mark.slow
def test_a_ddp_run_gives_the_rows_of_a_one_process_run(ddp_and_single):
    single_dir, ddp_dir = ddp_and_single["single"][1], ddp_and_single["ddp"][1]
    one = pd.read_csv(single_dir / "results.csv").drop(columns="seconds")
    several = pd.read_csv(ddp_dir / "results.csv").drop(columns="seconds")
    assert sorted(set(several["clip"])) == ["up-a", "up-c", "up-e", "up-f"]
    # rank 1 alone failed on up-b: the one-process run explained it
    one = one[one["clip"] != "up-b"].reset_index(drop=True)
    pd.testing.assert_frame_equal(several, one, check_exact=False, rtol=0, atol=1e-6)
    for name in ("up-a", "up-c", "up-e", "up-f"):
        with np.load(ddp_dir / "clips" / f"{name}.npz") as got, np.load(single_dir / "clips" / f"{name}.npz") as want:
            np.testing.assert_allclose(got["maps"], want["maps"], rtol=0, atol=1e-6)
    assert errors_of(ddp_dir) == {
        "up-b": ("model", "on rank 1: RuntimeError: Picky cannot take clip 0 of a batch of 1"),
        "up-d": ("load", errors_of(single_dir)["up-d"][1]),
    }


@pytest.mark.slow
def test_a_ddp_run_prints_and_writes_what_a_one_process_run_does(ddp_and_single):
    """Only rank 0 reports and writes: one summary, no log file or .hydra of the other ranks."""
    single_dir, (ddp, ddp_dir) = ddp_and_single["single"][1], ddp_and_single["ddp"]
    assert ddp.stderr == "" and "[rank" not in ddp.stdout and "Traceback" not in ddp.stdout
    assert ddp.stdout.count("Explained 4 clip(s) with 3d_ep on custom; 2 failed (errors.csv).") == 1
    assert ddp.stdout.count("clip up-d failed: ") == 1 and ddp.stdout.count("clip up-b failed: ") == 1
    listing = sorted(str(p.relative_to(ddp_dir)) for p in ddp_dir.rglob("*") if "clips" not in p.parts)
    assert listing == sorted(str(p.relative_to(single_dir)) for p in single_dir.rglob("*") if "clips" not in p.parts)
    summary = json.loads((ddp_dir / "summary.json").read_text())
    assert (summary["clips_done"], summary["clips_failed"]) == (4, 2)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(scope="module")
def ddp_interrupted(tmp_path_factory):
    """A 2-process run of 3 clips, stopped by SIGTERM to rank 0 inside the second clip's fit (the model
    stalls there on rank 0, rank 1 waits in a collective), then run again."""
    base = tmp_path_factory.mktemp("ddp_signal")
    for i, name in enumerate("abc"):
        write_video_file(base / "clips" / f"up-{name}.mp4", noise(i))
    (base / "classes.txt").write_text("up\ndown\nleft\nright\n")
    run_dir, mark = base / "run", base / "stall.mark"
    args = [a for a in PICKY if not a.startswith("model.target")] + ["model.target=helpers.Stall"]
    args += [f"+model.net.mark={mark}", f"+model.net.after={run_dir / 'clips' / 'up-a.npz'}"]
    args += [f"model.classes={base / 'classes.txt'}", f"dataset.root={base / 'clips'}", "dataset.batch_size=1"]
    args += ["method=3d_ep", "method.iterations=2", "method.sigma=11", "method.compile=false", "metrics.groups=[]"]
    args += ["figures=false", "trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu"]
    args += [f"hydra.run.dir={run_dir}"]
    log = base / "first.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            cli_command(args), cwd=base, env=cli_env(**PICKY_ENV), stdout=sink, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 600
        while not mark.exists():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the run did not reach its stall in 600 s"
            time.sleep(0.05)
        ranks = children_of(process.pid)
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=300)
    left = [pid for pid in ranks if Path(f"/proc/{pid}").exists()]
    files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if ".hydra" not in p.parts)
    rerun = run_cli(*args, cwd=base, env=PICKY_ENV)  # the mark exists: no stall
    return {"status": status, "output": log.read_text(), "ranks": ranks, "left": left, "files": files,
            "run_dir": run_dir, "rerun": rerun}  # fmt: skip


@pytest.mark.slow
def test_a_signal_stops_every_rank_of_a_ddp_run_and_a_rerun_resumes_it(ddp_interrupted):
    run = ddp_interrupted
    output, run_dir = run["output"], run["run_dir"]
    assert run["status"] == 128 + signal.SIGTERM, output[-3000:]
    assert output.strip().splitlines()[-1] == (
        f"error: Interrupted by SIGTERM: the clips finished so far are saved in {run_dir}; "
        f"rerun the same command with hydra.run.dir={run_dir} to resume."
    ), output[-3000:]
    assert "Traceback" not in output and "rank" not in output.lower(), output[-3000:]
    assert len(run["ranks"]) == 1 and run["left"] == []  # rank 1 was started by rank 0, and is gone
    assert run["files"] == ["clips", "clips/up-a.npz", "run.log"]
    rerun = run["rerun"]
    assert "skipping up-a" in rerun.stdout
    assert sorted(pd.read_csv(run_dir / "results.csv")["clip"]) == ["up-a", "up-b", "up-c"]
    assert hidden_files(run_dir) == []


@pytest.mark.slow
def test_a_rank_that_stops_with_an_error_stops_the_run_in_one_line(tmp_path):
    """A bug on rank 1 only (the model raises a TypeError there): rank 1 prints its traceback and
    exits, rank 0 stops the run with one line naming it, status 1."""
    write_video_file(tmp_path / "clips" / "up-a.mp4", noise(0))
    write_video_file(tmp_path / "clips" / "up-b.mp4", noise(1, level=250))
    (tmp_path / "classes.txt").write_text("up\ndown\nleft\nright\n")
    run_dir = tmp_path / "run"
    out = run_cli(
        *PICKY, "+model.net.rank=1", "+model.net.error=TypeError", f"model.classes={tmp_path / 'classes.txt'}",
        f"dataset.root={tmp_path / 'clips'}", "method=3d_ep", "method.iterations=2", "method.sigma=11",
        "method.compile=false", "metrics.groups=[]", "figures=false", "trainer.devices=2", "trainer.strategy=ddp",
        "trainer.accelerator=cpu", f"hydra.run.dir={run_dir}", cwd=tmp_path, env=PICKY_ENV, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr[-3000:]
    assert "TypeError: Picky cannot take clip 0 of a batch of 1" in out.stderr  # rank 1's own traceback
    assert last_line(out) == (
        "error: The process of rank 1 stopped with exit status 1 (its error is above): the run stops; "
        f"rerun the same command with hydra.run.dir={run_dir} to resume."
    )
    assert sorted(p.name for p in (run_dir / "clips").iterdir()) == ["up-a.npz"]  # done before the bad clip

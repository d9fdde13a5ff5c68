"""Result files of a run, written atomically so that an interrupted run resumes cleanly.

Layout under the run directory::

    clips/<clip>.npz      maps, target, probabilities, areas, method/model names, metrics, extras
    figures/<clip>.png    frames in a row, one overlay row per area
    figures/<clip>.gif    the same as an animation
    results.csv           one row per clip and area (metrics included)
    errors.csv            clips that failed: clip, stage, error (one line), path (absent when none failed)
    summary.json          per-run means of the metrics, counts, seconds per clip

A clip counts as done when its ``.npz`` exists with the run's config hash: the ``.npz`` is written
last, by rename, after its figures. Every file is written to a hidden temporary name beside it and
renamed into place, so a file under its own name is always whole; a run killed mid-write leaves the
temporary file, which the next run in that directory removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

HASHED_KEYS = ("model", "dataset", "method", "area", "target", "seed", "metrics")
# Dataset keys that change which process computes a clip, not its results: shards of one config share its hash.
UNHASHED_DATASET_KEYS = ("num_workers", "shard", "num_shards")


def config_hash(cfg: DictConfig) -> str:
    """A short hash of everything that changes a clip's results."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    subset = {k: resolved.get(k) for k in HASHED_KEYS}
    if isinstance(subset["dataset"], dict):
        subset["dataset"] = {k: v for k, v in subset["dataset"].items() if k not in UNHASHED_DATASET_KEYS}
    if resolved.get("check"):
        # A sanity check adds files per clip (absent, the hash of other runs stays as it was); its verdict's
        # bound changes no clip's files, only the run's tables, so a rerun with another threshold reuses them.
        subset["check"] = {k: v for k, v in resolved["check"].items() if k != "threshold"}
    return hashlib.sha1(json.dumps(subset, sort_keys=True, default=str).encode()).hexdigest()[:12]


def safe_name(name: str) -> str:
    """A file-system friendly clip name: spaces and odd characters become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


# The temporary name of atomic_write: "." + the file's name + "." + mkstemp's 8 characters + its suffix.
TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{8}(\.[A-Za-z0-9]+)?")


# The process's umask: files get the permissions of an ordinary open() (mkstemp's are 0600).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename in (None, tmp):
            err.filename = str(path)  # name the file the user knows (a full disk, say)
        raise


class RunStore:
    """The result files of one run directory."""

    def __init__(self, root: Path, config_hash: str):
        self.root = Path(root)
        self.config_hash = config_hash

    def npz_path(self, clip: str) -> Path:
        return self.root / "clips" / f"{safe_name(clip)}.npz"

    def figure_path(self, clip: str, suffix: str) -> Path:
        return self.root / "figures" / f"{safe_name(clip)}{suffix}"

    def is_done(self, clip: str) -> bool:
        path = self.npz_path(clip)
        if not path.is_file():
            return False
        try:
            with np.load(path) as data:
                return str(data["config_hash"]) == self.config_hash
        except (OSError, ValueError, KeyError):
            return False

    def save_clip(self, clip: str, arrays: dict, rows: list[dict]) -> None:
        """Write the clip's ``.npz`` (``arrays`` plus its result ``rows`` and the config hash)."""
        payload = dict(arrays, config_hash=self.config_hash, rows=json.dumps(rows))
        atomic_write(self.npz_path(clip), lambda tmp: np.savez_compressed(tmp, **payload))

    def rows(self) -> list[dict]:
        """Result rows of every completed clip of this config, in clip-name order."""
        rows = []
        for path in sorted((self.root / "clips").glob("[!.]*.npz")):
            with np.load(path) as data:
                if str(data["config_hash"]) == self.config_hash:
                    rows.extend(json.loads(str(data["rows"])))
        return rows

    def remove_temporary(self) -> None:
        """Remove the temporary files of writes that a killed run left (``atomic_write``'s hidden names)."""
        for folder in (self.root, self.root / "clips", self.root / "figures"):
            for path in folder.glob(".*.*") if folder.is_dir() else ():
                if path.is_file() and TEMPORARY.fullmatch(path.name):
                    path.unlink(missing_ok=True)

    def write_tables(self, errors: list[dict], summary: dict) -> None:
        """Write results.csv, errors.csv (removed when no clip failed: an older run's would mislead) and
        summary.json."""
        rows = self.rows()
        atomic_write(self.root / "results.csv", lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False))
        if errors:
            atomic_write(self.root / "errors.csv", lambda tmp: pd.DataFrame(errors).to_csv(tmp, index=False))
        else:
            (self.root / "errors.csv").unlink(missing_ok=True)
        atomic_write(self.root / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))

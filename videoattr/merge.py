"""Merge the shards of one config (``dataset.shard=I dataset.num_shards=N``) into one run directory.

``videoattr-merge DIR`` (or ``python -m videoattr.merge DIR``) finds the shard jobs under DIR (each a run directory with its
``.hydra/config.yaml``: the jobs of a sweep over ``dataset.shard``, or runs started by hand) and, when
all N shards are there and finished (their ``summary.json`` written) with one config hash, makes DIR a
run directory of the whole data set: ``results.csv``, ``errors.csv`` (when a clip failed),
``summary.json``, ``clips/`` and ``figures/`` (hard links to the shards' files, copies across file
systems) and ``report.html``. Anything else (shards of different configs or shard counts, a shard
missing or unfinished, a clip in two shards) is refused in one line, and nothing is written.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from videoattr.errors import VideoAttrError
from videoattr.outputs import atomic_write
from videoattr.results import means


@dataclass
class Shard:
    """One shard's run directory: its index of ``num_shards``, its config hash (None before any clip
    is done) and its ``summary.json`` (None while unfinished)."""

    root: Path
    index: int
    num_shards: int
    config_hash: str | None
    summary: dict | None

    @classmethod
    def load(cls, root: Path) -> Shard | None:
        """The shard whose run directory is ``root`` (None: a run of the whole data set)."""
        dataset = OmegaConf.load(root / ".hydra" / "config.yaml").get("dataset", {})
        if dataset.get("shard") is None:
            return None
        summary = json.loads((root / "summary.json").read_text()) if (root / "summary.json").is_file() else None
        return cls(root, int(dataset.shard), int(dataset.num_shards), recorded_hash(root, summary), summary)


def recorded_hash(root: Path, summary: dict | None) -> str | None:
    """The config hash a run recorded: its summary's, else that of one of its clips (None: no clip done)."""
    if summary is not None:
        return summary["config_hash"]
    for path in sorted((root / "clips").glob("[!.]*.npz")):
        with np.load(path) as data:
            return str(data["config_hash"])
    return None


def find_shards(directory: Path) -> list[Shard]:
    """The shard jobs under ``directory`` (itself included), in shard order."""
    shards = (Shard.load(config.parent.parent) for config in sorted(directory.rglob(".hydra/config.yaml")))
    return sorted((s for s in shards if s is not None), key=lambda s: s.index)


def check_shards(directory: Path, shards: list[Shard]) -> None:
    """Raise unless ``shards`` are every shard of one config, each finished."""
    if not shards:
        raise VideoAttrError(
            f"No shard runs under {directory}: pass the directory of a sweep over dataset.shard (or of the "
            "runs started with dataset.shard=I dataset.num_shards=N)."
        )
    first = shards[0]
    for shard in shards:
        if shard.num_shards != first.num_shards:
            raise VideoAttrError(
                f"{shard.root} is shard {shard.index} of {shard.num_shards} but {first.root} of {first.num_shards}: "
                "merge shards of one dataset.num_shards."
            )
    hashes = {s.config_hash: s for s in shards if s.config_hash is not None}
    if len(hashes) > 1:
        (a, one), (b, other) = list(hashes.items())[:2]
        raise VideoAttrError(
            f"Shards of different configs under {directory}: {one.root} (config hash {a}) and {other.root} "
            f"(config hash {b}): merge the shards of one config (pass its directory), or rerun the odd one "
            "with the others' settings."
        )
    seen: dict[int, Shard] = {}
    for shard in shards:
        if shard.index in seen:
            raise VideoAttrError(
                f"Shard {shard.index} has two runs, {seen[shard.index].root} and {shard.root}: remove one."
            )
        seen[shard.index] = shard
    missing = [i for i in range(first.num_shards) if i not in seen]
    unfinished = [s for s in shards if s.summary is None]
    if missing or unfinished:
        parts = []
        if missing:
            parts.append(f"missing shard(s) {', '.join(map(str, missing))}")
        if unfinished:
            parts.append("unfinished " + ", ".join(f"shard {s.index} ({s.root})" for s in unfinished))
        raise VideoAttrError(
            f"Cannot merge {directory}: {'; '.join(parts)} of {first.num_shards}: run them (a rerun with the "
            "same hydra.run.dir or sweep resumes) and merge again."
        )


def merge(directory: Path) -> Path:
    """Merge the shards under ``directory`` into it (see the module docstring); returns its ``results.csv``."""
    from videoattr.report import build_report

    directory = Path(directory)
    if not directory.is_dir():
        raise VideoAttrError(f"Directory {directory} does not exist: pass the directory of a sweep over dataset.shard.")
    shards = find_shards(directory)
    check_shards(directory, shards)
    rows = unique_rows(shards)
    errors = [e for shard in shards for e in shard_errors(shard)]
    results = pd.DataFrame(rows).sort_values("clip", kind="stable")
    atomic_write(directory / "results.csv", lambda tmp: results.to_csv(tmp, index=False))
    if errors:
        atomic_write(directory / "errors.csv", lambda tmp: pd.DataFrame(errors).to_csv(tmp, index=False))
    else:
        (directory / "errors.csv").unlink(missing_ok=True)
    summary = merged_summary(shards, rows, errors)
    atomic_write(directory / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))
    for shard in shards:
        for folder in ("clips", "figures"):
            link_files(shard.root / folder, directory / folder)
    build_report(directory)
    return directory / "results.csv"


def unique_rows(shards: list[Shard]) -> list[dict]:
    """The rows of every shard; a clip with rows in two shards (the folder changed between their runs) is refused."""
    rows, owner = [], {}
    for shard in shards:
        for row in shard_rows(shard):
            if owner.setdefault(row["clip"], shard.index) != shard.index:
                raise VideoAttrError(
                    f"Clip {row['clip']} has results in shard {owner[row['clip']]} and shard {shard.index}: the "
                    "folder changed between the shards' runs; rerun the shards on the same clips."
                )
            rows.append(row)
    return rows


def shard_rows(shard: Shard) -> list[dict]:
    """The rows of a finished shard's results.csv."""
    path = shard.root / "results.csv"
    return pd.read_csv(path).to_dict("records") if path.stat().st_size > 1 else []


def shard_errors(shard: Shard) -> list[dict]:
    path = shard.root / "errors.csv"
    return pd.read_csv(path, keep_default_na=False).to_dict("records") if path.is_file() else []


def merged_summary(shards: list[Shard], rows: list[dict], errors: list[dict]) -> dict:
    """summary.json of the merged shards: the first shard's identity, the counts and means of all."""
    first = shards[0].summary
    stages = [e["stage"] for e in errors]
    summary = {key: first[key] for key in ("model", "method", "areas", "seed")}
    summary.update(
        clips_done=len({r["clip"] for r in rows}),
        clips_failed=len(errors),
        clips_failed_by_stage={stage: stages.count(stage) for stage in dict.fromkeys(stages)},
        config_hash=shards[0].config_hash,
        num_shards=len(shards),
        shards=[str(s.root) for s in shards],
        mean=means([r for r in rows if r.get("map") != "combined"]),
    )
    combined = [r for r in rows if r.get("map") == "combined"]
    if combined:
        summary["mean_combined"] = means(combined)
    return summary


def link_files(source: Path, target: Path) -> None:
    """Every file of ``source`` in ``target`` too: a hard link, or a copy on another file system."""
    if not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("[!.]*"):
        dest = target / path.name
        dest.unlink(missing_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)


def main() -> None:
    """``videoattr-merge DIR`` (or ``python -m videoattr.merge DIR``): merge the shards under DIR into DIR."""
    from videoattr.cli import directory_command

    directory_command(
        "Merge the shards of a sweep over dataset.shard into one run directory (results.csv, summary.json, "
        "errors.csv, clips/, figures/, report.html).",
        merge,
        "Merged: {path} (summary.json, errors.csv when clips failed, report.html in {directory})",
    )


if __name__ == "__main__":
    main()

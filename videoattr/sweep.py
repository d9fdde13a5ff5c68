"""Gather the results of a sweep (every job's results.csv) into one table and plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from videoattr.errors import VideoAttrError

if TYPE_CHECKING:
    import pandas as pd

NOT_METRICS = {"target", "predicted", "seed", "area", "target_prob", "seconds", "forward_passes", "backward_passes"}
# results.csv's ``map``: "single" (the map of one area, or a backprop method's map) or "combined".
SINGLE = "single"


def collect(sweep_dir: Path) -> pd.DataFrame:
    """All rows of every ``results.csv`` under ``sweep_dir`` (a merge of shards in place of its shards'),
    with a ``job`` column (relative dir); ``objective_met`` as 1.0 / 0.0 (empty: not judged), so that its
    mean is the share of masks that met theirs."""
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise VideoAttrError(
            f"Sweep directory {sweep_dir} does not exist: pass a run or sweep directory under outputs/."
        )
    frames = []
    for csv in outermost(sorted(sweep_dir.rglob("results.csv"))):
        if csv.stat().st_size > 1:
            frame = pd.read_csv(csv)
            frame.insert(0, "job", str(csv.parent.relative_to(sweep_dir)))
            frames.append(frame)
    if not frames:
        raise VideoAttrError(
            f"No results.csv under {sweep_dir}: run `python run.py -m ...` first or pass the sweep's directory."
        )
    table = pd.concat(frames, ignore_index=True)
    if "objective_met" in table:
        table["objective_met"] = table["objective_met"].map({True: 1.0, False: 0.0, "True": 1.0, "False": 0.0})
    return table


def outermost(tables: list[Path]) -> list[Path]:
    """The tables of ``tables`` that no other one's directory holds: a results.csv with jobs below it is
    their merge (``videoattr.merge``) and stands for them."""
    folders = {t.parent for t in tables}
    return [t for t in tables if not any(p in folders for p in t.parent.parents)]


def metric_columns(table: pd.DataFrame) -> list[str]:
    numeric = table.select_dtypes("number").columns
    return [c for c in numeric if c not in NOT_METRICS and not c.startswith("prob_")] + [
        c for c in numeric if c.startswith("prob_")
    ]


def summarize(sweep_dir: Path) -> Path:
    """Write ``summary.csv`` (means per model, method, map and area) and PNG plots into ``sweep_dir``.

    ``map`` tells the masks of single areas (and the maps of other methods), ``single``, from the
    map combined from several areas (``combined``, area empty): each has rows of its own.
    Plots: each metric vs area per method/model (``plot_<metric>.png``; a combined map is a dashed
    line) and seconds per clip (``plot_seconds.png``). Jobs run with ``check=randomisation`` are
    gathered too (``videoattr.sanity.gather``: sanity_all.csv, sanity_summary.csv, plot_sanity.png).
    Returns the path of ``summary.csv``.
    """
    sweep_dir = Path(sweep_dir)
    table = collect(sweep_dir)
    table.to_csv(sweep_dir / "all_results.csv", index=False)
    keys = ["model", "method", "map", "area"]
    table["map"] = table["map"].fillna(SINGLE) if "map" in table else SINGLE
    table["area"] = table["area"].fillna(-1.0)
    means = table.groupby(keys, dropna=False)[metric_columns(table) + ["seconds"]].mean().reset_index()
    means.insert(len(keys), "clips", table.groupby(keys, dropna=False).size().values)
    means["area"] = means["area"].where(means["area"] >= 0)
    means.to_csv(sweep_dir / "summary.csv", index=False)
    for column in metric_columns(table) + ["seconds"]:
        _plot(means, column, sweep_dir / f"plot_{column}.png")
    from videoattr.sanity import gather  # jobs run with check=randomisation: sanity_summary.csv, plot_sanity.png

    gather(sweep_dir)
    return sweep_dir / "summary.csv"


def _plot(means: pd.DataFrame, column: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for (model, method, kind), group in means.groupby(["model", "method", "map"]):
        label = f"{method} / {model}" + ("" if kind == SINGLE else f" ({kind})")
        if group["area"].notna().any():
            ax.plot(group["area"], group[column], marker="o", label=label)
        else:
            ax.axhline(group[column].iloc[0], linestyle="--", label=label)
    ax.set_xlabel("area")
    ax.set_ylabel(column)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


class SummarizeSweep(Callback):
    """Hydra callback: summarise a multirun into its sweep directory when it ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            path = summarize(sweep_dir)
        except VideoAttrError as err:
            print(f"No sweep summary: {err}")
            return
        print(f"Sweep summary: {path} (plots: {sweep_dir}/plot_*.png)")


def main() -> None:
    """``videoattr-summarize DIR`` (or ``python -m videoattr.sweep DIR``): DIR/summary.csv and plots."""
    from videoattr.cli import directory_command

    directory_command(
        "Gather every job's results.csv under a sweep directory into summary.csv and plots.",
        summarize,
        "Summary: {path} (plots: {directory}/plot_*.png)",
    )


if __name__ == "__main__":
    main()

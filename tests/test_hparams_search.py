"""Hyper-parameter search through Hydra's Optuna sweeper: the run's ``objective`` (videoattr.objective),
the conf/hparams_search/ presets, and a real two-trial search."""

import json

import pytest
import yaml
from hydra import compose, initialize_config_dir

from helpers import ROOT, compose_config, run_cli
from videoattr.errors import VideoAttrError
from videoattr.objective import check_objective, objective_value, parse_objective, run_objective
from videoattr.schema import validate

SUMMARY = {"mean": {"pointing_game": 0.75, "insertion_auc": 0.9, "deletion_auc": 0.25, "seconds": 3.0}}


def test_the_objective_is_a_mean_or_the_difference_of_two():
    assert objective_value("pointing_game", SUMMARY) == 0.75
    assert objective_value("insertion_auc-deletion_auc", SUMMARY) == pytest.approx(0.65)
    assert objective_value("seconds", SUMMARY) == 3.0
    assert parse_objective("insertion_auc-deletion_auc") == ["insertion_auc", "deletion_auc"]


@pytest.mark.parametrize(
    "bad", ["pointing", "pointing_game+energy_in_mask", "insertion_auc-deletion_auc-tv_time", "", "-pointing_game", 5]
)
def test_any_other_objective_is_refused_naming_the_key(bad):
    with pytest.raises(VideoAttrError, match=r"^Invalid objective=.*: use one name of summary.json's means"):
        parse_objective(bad)


def test_a_mean_the_run_lacks_is_a_one_line_error(tmp_path):
    with pytest.raises(
        VideoAttrError,
        match=r"needs the mean energy_in_mask, which this run's summary.json lacks \(it has pointing_game",
    ):
        objective_value("energy_in_mask", SUMMARY)
    with pytest.raises(VideoAttrError, match="lacks"):
        objective_value("pointing_game", {"mean": {"pointing_game": float("nan")}})
    (tmp_path / "summary.json").write_text(json.dumps(SUMMARY))
    assert run_objective("pointing_game", tmp_path) == 0.75
    assert run_objective(None, tmp_path) is None
    assert run_objective("pointing_game", tmp_path / "no_summary") is None  # a DDP rank that wrote nothing


def test_the_objective_needs_its_metric_group():
    check_objective("pointing_game", ["localisation"])
    check_objective("prob_preserved-prob_deleted", [])
    with pytest.raises(
        VideoAttrError,
        match=r"^Invalid objective=insertion_auc-deletion_auc: insertion_auc is a faithfulness metric: add faithfulness to metrics.groups",
    ):
        check_objective("insertion_auc-deletion_auc", ["localisation"])


def test_the_config_checks_the_objective_before_the_run():
    validate(compose_config(["objective=insertion_auc-deletion_auc"]))
    assert compose_config([]).objective is None
    with pytest.raises(VideoAttrError, match=r"^Invalid objective=bogus: "):
        validate(compose_config(["objective=bogus"]))
    with pytest.raises(
        VideoAttrError, match=r"^Invalid objective=pointing_game: pointing_game is a localisation metric"
    ):
        validate(compose_config(["objective=pointing_game", "metrics.groups=[smoothness]"]))


def test_run_py_refuses_a_bad_objective_in_one_line():
    out = run_cli("objective=pointing_game-bogus", check=False)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Invalid objective=pointing_game-bogus: use one name of")


def test_the_step_optuna_preset_composes():
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hparams_search=step_optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.mode.name == "MULTIRUN"
    assert (sweeper.direction, sweeper.sampler.seed) == ("maximize", 0)
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert set(sweeper.params) == {"method.lr", "method.sigma", "method.reward_weight", "method.iterations"}
    job = compose_config(["hparams_search=step_optuna"])
    validate(job)
    assert (job.model.name, job.dataset.name, job.method.name, job.objective) == (
        "synthetic",
        "synthetic",
        "step",
        "pointing_game",
    )
    assert job.dataset.masks and "localisation" in job.metrics.groups


@pytest.mark.slow
def test_an_optuna_search_runs_its_trials_and_reports_the_best_objective(tmp_path):
    sweep = tmp_path / "sweep"
    out = run_cli(
        "hparams_search=step_optuna",
        "hydra.sweeper.n_trials=2",
        "method.iterations=3",
        "method.compile=false",
        "dataset.limit=1",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
    )
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert result["name"] == "optuna"
    assert set(result["best_params"]) == {"method.lr", "method.sigma", "method.reward_weight"}  # iterations fixed
    trials = sorted((sweep / "synthetic" / "step").iterdir())
    assert [t.name for t in trials] == ["trial_0", "trial_1"]
    params = {}
    for trial in trials:
        overrides = yaml.safe_load((trial / ".hydra" / "overrides.yaml").read_text())
        params[trial.name] = {k: v for k, v in (o.split("=", 1) for o in overrides)}
        assert params[trial.name]["method.iterations"] == "3"
        assert json.loads((trial / "summary.json").read_text())["clips_done"] == 1
    assert params["trial_0"]["method.lr"] != params["trial_1"]["method.lr"]
    best = [t for t in trials if all(float(params[t.name][k]) == v for k, v in result["best_params"].items())]
    assert len(best) == 1
    summary = json.loads((best[0] / "summary.json").read_text())
    assert result["best_value"] == pytest.approx(objective_value("pointing_game", summary), abs=1e-12)
    others = [objective_value("pointing_game", json.loads((t / "summary.json").read_text())) for t in trials]
    assert result["best_value"] == max(others)
    # The sweep summary still runs after an Optuna sweep (its rows average the trials).
    assert f"Sweep summary: {sweep / 'summary.csv'}" in out.stdout
    assert "Best value:" in out.stdout + out.stderr

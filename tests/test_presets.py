"""The presets of conf/experiment/ (the paper's settings) and conf/debug/: every one composes to the
settings it promises. debug=profile runs end to end here; the synthetic preset under debug=fast and every
other method under debug=fast run in test_cli (test_perturbation_methods_with_several_areas,
test_every_backprop_method_in_one_sweep_under_debug_fast)."""

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from helpers import ROOT, compose_config, run_cli
from videoattr.schema import validate

CONF = ROOT / "conf"
PAPER_AREAS = [0.01, 0.02, 0.05, 0.1, 0.15, 0.2]  # the areas the reference offers (docs/REFERENCE.md)
EP_METHODS = ["2d_ep", "3d_ep", "step"]
ALL_METHODS = [
    "grad",
    "grad_x_input",
    "integrated_grad",
    "smooth_grad",
    "grad_cam",
    "2d_ep",
    "3d_ep",
    "step",
    "random",
    "centre",
]
# experiment -> (model, dataset, method of a single run, area, methods of its -m sweep or None)
PRESETS = {
    "step_i3d_kinetics": ("i3d", "kinetics_demo", "step", PAPER_AREAS, None),
    "ep_methods_r2plus1d": ("r2plus1d", "kinetics_demo", "step", 0.1, EP_METHODS),
    "step_tsm_epic_noun": ("tsm_epic_noun", "epic_noun_demo", "step", 0.1, None),
    "step_tsm_epic_verb": ("tsm_epic_verb", "epic_verb_demo", "step", 0.1, None),
    "all_methods_r2plus1d": ("r2plus1d", "kinetics_demo", "step", 0.1, ALL_METHODS),
    "ep_methods_synthetic": ("synthetic", "synthetic", "step", 0.1, EP_METHODS),
}


def compose_all(overrides: list[str]) -> DictConfig:
    """``conf/config.yaml`` composed with ``overrides``, the ``hydra`` node (sweeper params) included."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def areas(cfg: DictConfig):
    return OmegaConf.to_container(cfg.area) if OmegaConf.is_list(cfg.area) else cfg.area


def test_every_experiment_file_is_listed_here():
    assert sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")) == sorted(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_experiment_composes_to_its_settings(name):
    model, dataset, method, area, sweep = PRESETS[name]
    cfg = compose_config([f"experiment={name}"])
    assert (cfg.model.name, cfg.dataset.name, cfg.method.name) == (model, dataset, method)
    assert areas(cfg) == area
    params = compose_all([f"experiment={name}"]).hydra.sweeper.params
    if sweep is None:
        assert not params
    else:
        assert params["method"].split(",") == sweep
        assert all((CONF / "method" / f"{m}.yaml").is_file() for m in sweep)
    # Every job of the sweep composes too and passes the range checks, with the preset's area.
    for choice in sweep or [method]:
        job = compose_config([f"experiment={name}", f"method={choice}"])
        assert (job.model.name, job.method.name) == (model, choice)
        validate(job)
        assert areas(job) == area


def test_a_command_line_override_beats_the_preset():
    cfg = compose_config(["experiment=step_i3d_kinetics", "area=0.05", "method.iterations=300"])
    assert (cfg.model.name, cfg.area, cfg.method.iterations) == ("i3d", 0.05, 300)


def _method_names() -> list[str]:
    return sorted(p.stem for p in (CONF / "method").glob("*.yaml"))


@pytest.mark.parametrize("method", _method_names())
def test_debug_fast_composes_with_every_method_and_shortens_its_loop(method):
    full = compose_config([f"method={method}"]).method
    cfg = compose_config(["debug=fast", f"method={method}"])
    validate(cfg)
    assert cfg.method.name == full.name
    assert (cfg.dataset.limit, cfg.figures, list(cfg.metrics.groups)) == (1, False, [])
    assert cfg.trainer.enable_progress_bar is False
    if "iterations" in full:  # 2d_ep, 3d_ep, step and their _fast presets
        assert (cfg.method.iterations, cfg.method.compile) == (5, False)
    elif method == "integrated_grad":
        assert cfg.method.steps == 2
    elif method == "smooth_grad":
        assert cfg.method.samples == 2
    elif method in ("rise", "kernel_shap", "occlusion"):
        assert (cfg.method.get("masks"), cfg.method.get("samples")) == {
            "rise": (8, None),
            "kernel_shap": (None, 8),
        }.get(method, (None, None))
        assert method != "occlusion" or list(cfg.method.stride) == list(cfg.method.window) == [8, 16, 16]
    changed = {k for k in full if full[k] != cfg.method[k]}
    assert changed <= {"iterations", "compile", "steps", "samples", "masks", "stride"}


def test_without_debug_the_methods_keep_their_own_settings():
    assert compose_config(["method=step"]).method.iterations == 2000
    assert compose_config(["method=integrated_grad"]).method.steps == 25
    assert compose_config(["experiment=ep_methods_r2plus1d", "debug=fast"]).method.iterations == 5


def test_debug_profile_turns_on_lightnings_profiler():
    cfg = compose_config(["debug=profile"])
    validate(cfg)
    assert (cfg.trainer.profiler, cfg.dataset.limit, cfg.figures) == ("simple", 1, False)
    assert cfg.method.iterations == 2000  # the method's own fit is profiled


@pytest.mark.slow
def test_debug_profile_logs_lightnings_report(tmp_path):
    out = run_cli("debug=profile", "method.iterations=3", "method.compile=false", f"hydra.run.dir={tmp_path / 'run'}")
    report = (out.stdout + out.stderr).split("FIT Profiler Report", 1)[1]  # in Hydra's log since Lightning loads late
    assert "PerturbationFit.optimizer_step" in report and "SingleDeviceStrategy.backward" in report
    assert len(pd.read_csv(tmp_path / "run" / "results.csv")) == 1

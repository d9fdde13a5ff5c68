"""Explain a video classifier: ``python run.py model=r2plus1d dataset=kinetics_demo method=grad_cam``."""

import hydra
from omegaconf import DictConfig

import videoattr  # noqa: F401  (registers the ${asset:...} resolver)
from videoattr.cli import run_cli, user_errors_reported


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run the job; return its ``objective`` (None if unset) for a sweeper such as Optuna."""
    from videoattr.objective import run_objective
    from videoattr.runner import run

    with user_errors_reported():
        return run_objective(cfg.objective, run(cfg))


if __name__ == "__main__":
    run_cli(main)

"""Explain a video classifier: ``python run.py model=r2plus1d dataset=kinetics_demo method=grad_cam``."""

import hydra
from omegaconf import DictConfig

from videoattr.cli import run_cli, user_errors_reported
from videoattr.objective import run_objective
from videoattr.schema import validate


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run the job; return its ``objective`` (None if unset) for a sweeper such as Optuna."""
    with user_errors_reported():
        validate(cfg)  # before torch and Lightning are imported: a bad config answers at once
        if cfg.plan:
            from videoattr.plan import print_plan

            print_plan(cfg)
            return None
        from videoattr.runner import run

        run_dir = run(cfg)  # None on the ranks > 0 of a multi-process run
        return None if run_dir is None else run_objective(cfg.objective, run_dir)


if __name__ == "__main__":
    run_cli(main)

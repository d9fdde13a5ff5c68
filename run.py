"""Explain a video classifier: ``python run.py model=r2plus1d dataset=kinetics_demo method=grad_cam``."""

import hydra
from omegaconf import DictConfig

import videoattr  # noqa: F401  (registers the ${asset:...} resolver)
from videoattr.cli import run_cli, user_errors_reported


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from videoattr.runner import run

    with user_errors_reported():
        run(cfg)


if __name__ == "__main__":
    run_cli(main)

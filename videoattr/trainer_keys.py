"""The ``trainer`` group's keys (Lightning ``Trainer`` arguments), checked without importing Lightning.

Names and the forms of ``devices`` and ``precision`` are checked here, when the config is checked;
everything else about the values (an accelerator this machine lacks, a strategy that does not fit) is
Lightning's to judge, when the run builds its Trainer. A test keeps ``TRAINER_ARGS`` equal to the
arguments of the installed Lightning's ``Trainer``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from videoattr.errors import VideoAttrError, require

TRAINER_ARGS = (
    "accelerator", "strategy", "devices", "num_nodes", "precision", "logger", "callbacks", "fast_dev_run",
    "max_epochs", "min_epochs", "max_steps", "min_steps", "max_time", "limit_train_batches", "limit_val_batches",
    "limit_test_batches", "limit_predict_batches", "overfit_batches", "val_check_interval",
    "check_val_every_n_epoch", "num_sanity_val_steps", "log_every_n_steps", "enable_checkpointing",
    "enable_progress_bar", "enable_model_summary", "accumulate_grad_batches", "gradient_clip_val",
    "gradient_clip_algorithm", "deterministic", "benchmark", "inference_mode", "use_distributed_sampler",
    "profiler", "detect_anomaly", "barebones", "plugins", "sync_batchnorm", "reload_dataloaders_every_n_epochs",
    "default_root_dir", "enable_autolog_hparams", "model_registry",
)  # fmt: skip
PRECISIONS = (
    "transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed",
    "32-true", "64-true", "64", "32", "16", "bf16",
)  # fmt: skip
_DEVICE_LIST = re.compile(r"^\s*(-1|\d+|\d+(\s*,\s*\d+)*\s*,?)\s*$")


def devices_ok(devices: Any) -> bool:
    """``devices`` in a form Lightning parses: 'auto', an int, a list of ints or '0,1' / '-1' / '2'."""
    if isinstance(devices, bool):
        return False
    if isinstance(devices, int):
        return devices >= -1
    if isinstance(devices, str):
        return devices == "auto" or bool(_DEVICE_LIST.match(devices))
    return isinstance(devices, list | tuple) and all(isinstance(d, int) and not isinstance(d, bool) for d in devices)


def check_trainer_keys(trainer: Mapping[str, Any]) -> None:
    """Refuse an argument ``Trainer`` does not take and a ``devices`` or ``precision`` it cannot parse."""
    unknown = [key for key in trainer if key not in TRAINER_ARGS]
    if unknown:
        raise VideoAttrError(
            f"Unknown key trainer.{unknown[0]}: trainer takes the arguments of Lightning's Trainer "
            f"({', '.join(TRAINER_ARGS[:8])}, ...)."
        )
    if "devices" in trainer:
        require(
            devices_ok(trainer["devices"]), "trainer.devices", trainer["devices"],
            "use auto, a number of devices (-1: all), a list of indices such as [0,1], or '0,1'",
        )  # fmt: skip
    if trainer.get("precision") is not None:
        require(
            str(trainer["precision"]) in PRECISIONS, "trainer.precision", trainer["precision"],
            f"use one of {', '.join(PRECISIONS)}",
        )  # fmt: skip

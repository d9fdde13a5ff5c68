"""Stop a perturbation fit once its masks have settled (off by default: the paper runs every iteration)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch


class MaskEarlyStopping(pl.Callback):
    """Stop when no mask parameter has moved by more than ``tol`` for ``patience`` iterations in a row.

    Watches ``pl_module.masks`` (the Q x T x grid parameters, compared in [0, 1] as after the clamp);
    every pair must have settled, so a batched fit stops when its slowest pair does. The count starts
    only once some parameter has moved by more than ``tol``: the masks start at 1, clamped, and may
    sit there for a while before they move at all. ``stopped_at`` holds the number of iterations run
    when it stopped (None: ran to the end).
    """

    def __init__(self, tol: float, patience: int = 10):
        super().__init__()
        self.tol, self.patience = float(tol), int(patience)
        self.previous: torch.Tensor | None = None
        self.still = 0
        self.moving = False
        self.stopped_at: int | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.previous, self.still, self.moving, self.stopped_at = None, 0, False, None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        masks = pl_module.masks.detach().clamp(0, 1)
        if self.previous is not None:
            moved = (masks - self.previous).abs().max().item() > self.tol
            self.moving = self.moving or moved
            self.still = self.still + 1 if self.moving and not moved else 0
        self.previous = masks.clone()
        if self.still >= self.patience:
            trainer.should_stop = True
            self.stopped_at = trainer.global_step

"""Early stopping of the perturbation fit: off by default, stops once the masks have settled."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation import extremal_3d
from videoattr.methods.perturbation.early_stopping import MaskEarlyStopping

SMALL = {"grid_step": 4, "sigma": 3, "perturbation": "fade"}


class PatchDetector(nn.Module):
    """Class 0 iff the top-left 8 x 8 patch is bright."""

    def forward(self, x):
        score = 20 * x[:, :, :, :8, :8].mean(dim=(1, 2, 3, 4)) - 10
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def test_callback_stops_after_patience_still_steps():
    callback = MaskEarlyStopping(tol=0.01, patience=2)
    trainer = SimpleNamespace(should_stop=False, global_step=0)
    module = SimpleNamespace(masks=torch.zeros(1, 2, 2))
    callback.on_fit_start(trainer, module)
    # moves of 0.5, 0.005, 0.02 (over tol: count restarts), 0.001, 0.0 -> still twice in a row at step 5
    for step, value in enumerate([0.0, 0.5, 0.505, 0.525, 0.526, 0.526], start=1):
        module.masks = torch.full((1, 2, 2), value)
        trainer.global_step = step
        callback.on_train_batch_end(trainer, module, None, None, step - 1)
        assert trainer.should_stop == (step == 6)
    assert callback.stopped_at == 6
    # values outside [0, 1] are compared as clamped, as the fit's masks are after each step
    callback.on_fit_start(trainer, module)
    trainer.should_stop = False
    for value in (0.5, 1.3, 1.7, 2.0):
        module.masks = torch.full((1, 2, 2), value)
        callback.on_train_batch_end(trainer, module, None, None, 0)
    assert trainer.should_stop


def test_masks_that_have_not_moved_yet_do_not_stop_the_fit():
    callback = MaskEarlyStopping(tol=0.01, patience=2)
    trainer = SimpleNamespace(should_stop=False, global_step=0)
    module = SimpleNamespace(masks=torch.ones(1, 2, 2))
    callback.on_fit_start(trainer, module)
    # parked at 1 (the start) for 10 steps, then a move of 0.3, then still: stops 2 steps after the move
    values = [1.0] * 10 + [0.7, 0.7, 0.7]
    for step, value in enumerate(values, start=1):
        module.masks = torch.full((1, 2, 2), value)
        trainer.global_step = step
        callback.on_train_batch_end(trainer, module, None, None, step - 1)
        assert trainer.should_stop == (step == len(values))


def test_fit_stops_early_at_the_same_mask_and_reports_its_iterations():
    clips = torch.ones(1, 3, 2, 16, 16)
    options = dict(areas=[0.25], iterations=150, **SMALL)
    full = extremal_3d(PatchDetector(), clips, torch.tensor([0]), **options)
    early = extremal_3d(
        PatchDetector(), clips, torch.tensor([0]), early_stop_tol=1e-3, early_stop_patience=5, **options
    )
    ran = int(early.extras["iterations"][0, 0])
    assert int(full.extras["iterations"][0, 0]) == 150 and 5 < ran < 150
    assert all(v.shape == (1, 1, ran) for v in early.extras["history"].values())
    np.testing.assert_allclose(
        early.extras["history"]["reward"], full.extras["history"]["reward"][..., :ran], rtol=1e-6
    )
    assert (early.maps - full.maps).abs().max() < 0.05
    assert early.extras["prob_preserved"][0, 0] == pytest.approx(full.extras["prob_preserved"][0, 0], abs=0.02)


def test_bad_early_stopping_options_are_refused():
    with pytest.raises(VideoAttrError, match="early_stop"):
        extremal_3d(PatchDetector(), torch.ones(1, 3, 2, 16, 16), torch.tensor([0]), early_stop_tol=-1.0, **SMALL)

"""Grad-CAM on Hugging Face video transformers with no layer or layout option: the layer and the token layout
found by class (videoattr.models.hf.token_layout) put the map's peak on the evidence of a trained model."""

import numpy as np
import pytest
import torch

import videoattr
from helpers.hf import ARCHS, PATCH, TUBELET, evidence_clips, trained_hf

# Blocks of each tiny model: with more, its tokens mix the evidence into every position before the default
# layer (1 block), or (V-JEPA 2, whose final norm is its layer) its one block has not localised it yet.
LAYERS = {"videomae": 1, "timesformer": 1, "vivit": 1, "vjepa2": 2, "videoprism": 1}


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_the_map_peaks_in_the_tubelet_that_holds_the_evidence(arch):
    model = trained_hf(arch, LAYERS[arch])
    clips, labels, tubelets = evidence_clips(arch, 40, torch.Generator().manual_seed(5))
    clips, tubelets = clips[labels == 1][:16], tubelets[labels == 1][:16]
    with torch.no_grad():
        assert model(**{model.main_input_name: clips.transpose(1, 2)}).logits.flatten(1).argmax(1).eq(1).all()
    maps = videoattr.explain(model, clips, 1, method="grad_cam")
    assert maps.shape == (len(clips), 1, *clips.shape[2:])
    peaks = [np.unravel_index(int(m.argmax()), m.shape) for m in maps[:, 0]]
    cells = [(t // TUBELET[arch], h // PATCH, w // PATCH) for t, h, w in peaks]
    hits = sum(cell == tuple(tubelet) for cell, tubelet in zip(cells, tubelets.tolist(), strict=True))
    # Chance: 1 in 32 or 64 token cells.
    assert hits >= 12, f"{hits} of {len(clips)} peaks in the evidence tubelet"

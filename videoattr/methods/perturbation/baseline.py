"""The baseline of a perturbation: the clip with every mask value 0, and the model's target
probability on it.

For ``perturbation: blur`` that is level 0 of the fit's blur pyramid (every frame blurred with
sigma ``max_blur``, 20 by default), for ``fade`` the faded clip (all zeros after normalisation).
When the model gives the target about the same probability there as on the clean clip, it predicts
the target without visible evidence and a preserve mask can show little for it.
"""

from __future__ import annotations

import torch
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation.options import PERTURBATIONS
from videoattr.methods.perturbation.pyramid import blur


def fully_perturbed(clips: torch.Tensor, perturbation: str = "blur", max_blur: float = 20.0) -> torch.Tensor:
    """N x 3 x T x H x W clips -> the same clips fully perturbed: level 0 of ``blur_pyramid(clips,
    levels, max_blur)`` (any levels) or of ``fade_pyramid``, i.e. what a mask of zeros reads."""
    if perturbation == "blur":
        return blur(clips, float(max_blur))
    if perturbation == "fade":
        return torch.zeros_like(clips)
    raise VideoAttrError(f"Unknown perturbation '{perturbation}': use one of {', '.join(PERTURBATIONS)}.")


@torch.no_grad()
def target_probability(model: nn.Module, clips: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The softmax probability of class ``target[i]`` for clip i, N values.

    model: eval-mode classifier; clips: N x 3 x T x H x W normalised; target: N class indices.
    """
    logits = model(clips).float()
    return logits.softmax(dim=1).gather(1, target.view(-1, 1).to(logits.device)).squeeze(1)


def baseline_probability(
    model: nn.Module, clips: torch.Tensor, target: torch.Tensor, perturbation: str = "blur", max_blur: float = 20.0
) -> torch.Tensor:
    """``target_probability`` of the fully perturbed clips, N values (arguments as there)."""
    return target_probability(model, fully_perturbed(clips, perturbation, max_blur), target)

"""What a method call cost, per clip: how many clips went through the model forward and backward.

Methods put ``cost(n, forward, backward)`` into ``Explanation.extras``; the runner writes the counts
into each clip's row (``forward_passes``, ``backward_passes``) beside ``seconds``, and the benchmark
reports them per method. One pass is one clip through the network, however the clips are batched.
``planned_passes`` gives the same counts from a method's config, before a run (``videoattr.plan``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


def cost(n: int, forward: int | torch.Tensor, backward: int | torch.Tensor = 0) -> dict[str, torch.Tensor]:
    """``{"forward_passes": N x 1, "backward_passes": N x 1}`` int64 counts (a number: the same for every clip)."""
    return {
        "forward_passes": torch.as_tensor(forward, dtype=torch.int64).expand(n).reshape(n, 1).clone(),
        "backward_passes": torch.as_tensor(backward, dtype=torch.int64).expand(n).reshape(n, 1).clone(),
    }


def planned_passes(
    method: str, options: Mapping, areas: int, frames: tuple[int, int, int], kind: str = "paper"
) -> tuple[int, int]:
    """(forward, backward) passes per clip that ``method`` will report in its ``cost`` with the config
    ``options`` (``conf/method``), ``areas`` areas and clips of ``frames`` = (T, H, W), without running it.
    A perturbation fit's count is its full ``iterations`` (early stopping can only end it sooner); a
    ``variant`` left None is the one it takes on a model of ``kind`` (``perturbation.kind.model_kind``)."""
    from videoattr.methods import PERTURBATION_METHODS
    from videoattr.methods.perturbation.options import TEMPORAL, model_settings

    if method in PERTURBATION_METHODS:
        variant = options.get("variant") or model_settings(method, kind)["variant"]
        passes = int(options["iterations"]) * areas * (2 if variant == "dual" else 1)
        if options.get("temporal_frames") is not None:  # the temporal step first: one area, at most 200 iterations
            temporal = model_settings("temporal_ep", kind)["variant"]  # the step takes temporal_ep's own
            passes += min(TEMPORAL.iterations, int(options["iterations"])) * (2 if temporal == "dual" else 1)
        return passes, passes
    if method in ("grad", "grad_x_input", "grad_cam"):
        return 1, 1
    if method == "integrated_grad":
        return int(options["steps"]), int(options["steps"])
    if method == "smooth_grad":
        return int(options["samples"]), int(options["samples"])
    if method == "occlusion":
        steps = (math.ceil((s - k) / d) + 1 for s, k, d in zip(frames, options["window"], options["stride"]))
        return math.prod(steps) + 1, 0
    if method == "rise":
        return int(options["masks"]), 0
    if method == "kernel_shap":
        return int(options["samples"]), 0
    return 0, 0  # the baselines (random, centre, edges) ignore the model

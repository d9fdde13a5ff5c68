"""What a method call cost, per clip: how many clips went through the model forward and backward.

Methods put ``cost(n, forward, backward)`` into ``Explanation.extras``; the runner writes the counts
into each clip's row (``forward_passes``, ``backward_passes``) beside ``seconds``, and the benchmark
reports them per method. One pass is one clip through the network, however the clips are batched.
"""

from __future__ import annotations

import torch


def cost(n: int, forward: int | torch.Tensor, backward: int | torch.Tensor = 0) -> dict[str, torch.Tensor]:
    """``{"forward_passes": N x 1, "backward_passes": N x 1}`` int64 counts (a number: the same for every clip)."""
    return {
        "forward_passes": torch.as_tensor(forward, dtype=torch.int64).expand(n).reshape(n, 1).clone(),
        "backward_passes": torch.as_tensor(backward, dtype=torch.int64).expand(n).reshape(n, 1).clone(),
    }

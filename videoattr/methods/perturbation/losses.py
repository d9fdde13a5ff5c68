"""The energy terms, each per (clip, area) pair: Q values for Q pairs, no mixing between pairs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def preserve_reward(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log p(target) of Q x K logits after softmax -> Q."""
    return -logits.log_softmax(dim=1).gather(1, target[:, None]).squeeze(1)


def delete_reward(logits: torch.Tensor, target: torch.Tensor, floor: torch.Tensor | None = None) -> torch.Tensor:
    """-log(1 - p(target)) of Q x K logits after softmax -> Q, computed from the other classes' logits.

    floor: None, or Q probabilities below which a lower p(target) earns nothing more (the reward and its
    gradient stay at the floor's value).
    """
    others = logits.scatter(1, target[:, None], float("-inf"))
    reward = logits.logsumexp(dim=1) - others.logsumexp(dim=1)
    return reward if floor is None else reward.clamp(min=-torch.log1p(-floor))


def area_zeros(area: float, size: int) -> int:
    """Zeros at the head of the sorted reference for ``size`` mask values keeping ``area`` of them."""
    return int(size * (1 - area))


def area_loss(mask: torch.Tensor, zeros: torch.Tensor, per_frame: bool) -> torch.Tensor:
    """Mean squared difference between the sorted mask values and the reference 0...0 1...1.

    mask: Q x T x H' x W' padded masks; zeros: Q zero counts (per frame if ``per_frame``, else per
    T x H' x W' volume). Returns Q. The squared differences are summed in mask order, so the sort
    reduces to a selection: which values meet the ones of the reference.
    """
    values = mask.flatten(2) if per_frame else mask.flatten(1).unsqueeze(1)
    return ((values - sorted_ones(values.detach(), zeros)) ** 2).mean(dim=(1, 2))


def sorted_ones(values: torch.Tensor, zeros: torch.Tensor) -> torch.Tensor:
    """Q x R x S values -> Q x R x S, 1 where a value lands at place ``zeros[q]`` or later when its row
    is sorted ascending (stable: of equal values the later ones go last), else 0."""
    ones = torch.empty_like(values)
    size = values.shape[-1]
    for q, count in enumerate(zeros.tolist()):
        row = values[q]
        threshold = row.kthvalue(count + 1, dim=-1, keepdim=True).values
        above, tied = row > threshold, row == threshold
        places_left = size - count - above.sum(dim=-1, keepdim=True)
        from_end = tied.flip(-1).cumsum(dim=-1).flip(-1)
        ones[q] = above | (tied & (from_end <= places_left))
    return ones


def ellipsoid_kernel(shape: tuple[int, int, int]) -> torch.Tensor:
    """D x h x w solid ellipsoid of 0/1 voxels, sampled as the reference samples it.

    Along an axis of n voxels the coordinates are linspace(-1, 1, n) (-1 alone when n = 1); a voxel
    belongs to the ellipsoid when its squared coordinates sum to at most 1, decided exactly in
    integers (7 x 11 x 11 keeps 311 voxels).
    """
    # Voxel i of an axis of n sits at (2 i - (n - 1)) / (n - 1): integer numerators over a common scale.
    spans = [max(n - 1, 1) for n in shape]
    scale = math.prod(spans) ** 2
    terms = [
        (2 * torch.arange(n, dtype=torch.int64) - (n - 1) - int(n == 1)) ** 2 * (scale // span**2)
        for n, span in zip(shape, spans)
    ]
    inside = terms[0].view(-1, 1, 1) + terms[1].view(1, -1, 1) + terms[2].view(1, 1, -1) <= scale
    return inside.float()


def core_count(area: float, volume: tuple[int, int, int], core_shape: tuple[int, int, int], fill: float) -> int:
    """K = ceil(area x T H' W' / floor(D h w x fill)): how many ellipsoid cores fill ``area`` of the
    volume (the reference rounds a core's volume down to an integer: 443 for 7 x 11 x 11)."""
    return math.ceil(area * math.prod(volume) / math.floor(math.prod(core_shape) * fill))


def core_loss(
    mask: torch.Tensor,
    kernel: torch.Tensor,
    stride: tuple[int, int, int],
    count: torch.Tensor,
    order: torch.Tensor,
) -> torch.Tensor:
    """STEP's smoothness loss: the mask averaged over ellipsoid cores, top ``count`` pushed to 1, rest to 0.

    mask: Q x T x H' x W'; kernel: D x h x w; count: Q core counts; order: a permutation of the R
    core responses applied before the (stable) sort, so ties are broken at random. Returns Q: mean
    squared error of the top part plus that of the rest.
    """
    responses = F.conv3d(mask.unsqueeze(1), (kernel / kernel.sum())[None, None].to(mask), stride=stride)
    ranked = responses.flatten(1)[:, order].sort(dim=1, descending=True, stable=True).values
    total = ranked.shape[1]
    top = torch.arange(total, device=mask.device) < count[:, None]
    top_error = ((ranked - 1) ** 2 * top).sum(dim=1) / count.clamp(min=1)
    rest_error = (ranked**2 * ~top).sum(dim=1) / (total - count).clamp(min=1)
    return top_error + rest_error

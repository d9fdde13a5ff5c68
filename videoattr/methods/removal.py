"""Removal methods: remove parts of the clip and watch the target's score.

- ``occlusion``: a spatio-temporal window slides over the clip (Captum's ``Occlusion``); a pixel's
  relevance is the mean score drop of the windows that cover it (Zeiler and Fergus 2014, in time too).
- ``rise``: random low-resolution T' x H' x W' binary masks, upsampled trilinearly with random shifts,
  keep parts of the clip (Petsiuk et al., BMVC 2018, extended to time); a pixel's relevance is the
  mean score of the masked clips that keep it minus the mean score of all of them.
- ``kernel_shap``: Shapley values of 3-D SLIC supervoxels (scikit-image's ``slic`` on the T x H x W
  volume) estimated by Captum's ``KernelShap``.

What a removed region becomes is ``perturbation``: 'blur' (every frame blurred with a Gaussian of
``blur_sigma`` pixels, as the perturbation methods' blur), 'fade' (0 after normalisation: the
normalisation's mean colour) or 'mean' (the clip's own mean colour per channel). The score is the
target's softmax probability or its logit (``score``). Perturbed clips go through the model
``batch_size`` at a time, under ``torch.no_grad``; ``progress`` shows a tqdm bar (None: only when
stderr is a terminal). Every method reports its cost in ``extras`` (``forward_passes`` per clip, no
backward pass) and is deterministic: occlusion has no randomness, RISE and KernelSHAP draw from
``seed`` alone (the caller's random state is left alone), and a clip's map does not depend on the
other clips of the batch.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videoattr.choices import POLARITIES, REMOVAL_PERTURBATIONS, REMOVAL_SCORES
from videoattr.errors import VideoAttrError
from videoattr.methods import Explanation
from videoattr.methods.backprop import KINETICS_MEAN, KINETICS_STD
from videoattr.methods.cost import cost
from videoattr.methods.perturbation.baseline import fully_perturbed
from videoattr.methods.polarity import polarity_map

log = logging.getLogger(__name__)


def occlusion(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    window: Sequence[int] = (8, 16, 16),
    stride: Sequence[int] = (4, 8, 8),
    perturbation: str = "blur",
    blur_sigma: float = 20.0,
    score: str = "probability",
    polarity: str = "positive",
    batch_size: int = 16,
    progress: bool | None = None,
) -> Explanation:
    """Occlusion with a sliding ``window`` of [frames, height, width] moved by ``stride`` (same units).

    Each window position replaces that part of the clip (all channels) by its ``perturbation`` and
    records the drop of the target's score; a pixel's relevance is the mean drop over the windows that
    cover it (Captum's ``Occlusion``), reduced by ``polarity`` ('positive': drops only). Windows run
    past the clip's end where the stride does not divide it. Cost per clip: one forward pass per window
    position, prod over T, H, W of (ceil((size - window) / stride) + 1), plus one for the clean clip;
    e.g. 3 x 13 x 13 + 1 = 508 at 16 x 112 x 112 with the defaults.
    Returns ``maps`` N x 1 x T x H x W (score units, not rescaled).
    """
    from captum.attr import Occlusion

    n, c, t, h, w = inputs.shape
    window = _triple("window", window, "frames and pixels >= 1, e.g. window=[8,16,16]")
    stride = _triple("stride", stride, "frames and pixels >= 1, e.g. stride=[4,8,8]")
    if any(k > s for k, s in zip(window, (t, h, w))):
        raise VideoAttrError(
            f"Occlusion window {list(window)} is larger than the clip ({t} frames of {h} x {w}): "
            f"set window to at most [{t},{h},{w}]."
        )
    if any(d > k and k < s for d, k, s in zip(stride, window, (t, h, w))):
        raise VideoAttrError(
            f"Occlusion stride {list(stride)} is longer than the window {list(window)} along an axis the window "
            "does not cover, so some pixels would never be occluded: set each stride to at most its window."
        )
    _check_common(perturbation, blur_sigma, score, polarity, batch_size)
    positions = math.prod(math.ceil((s - k) / d) + 1 for s, k, d in zip((t, h, w), window, stride))
    attribution = Occlusion(_scorer(model, score)).attribute(
        inputs.detach(),
        sliding_window_shapes=(c, *window),
        strides=(c, *stride),
        baselines=_removed(inputs, perturbation, blur_sigma),
        target=target,
        perturbations_per_eval=max(1, batch_size // n),
        show_progress=_show(progress),
    )
    return Explanation(polarity_map(attribution, polarity), extras=cost(n, positions + 1))


def rise(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    masks: int = 500,
    grid: Sequence[int] = (4, 7, 7),
    keep: float = 0.5,
    perturbation: str = "fade",
    blur_sigma: float = 20.0,
    score: str = "probability",
    polarity: str = "positive",
    batch_size: int = 16,
    seed: int = 0,
    progress: bool | None = None,
) -> Explanation:
    """RISE over space and time, with the mean score removed.

    Each of the ``masks`` random masks is a binary ``grid`` of [T', H', W'] cells, each kept with
    probability ``keep``, upsampled trilinearly to (T' + 1) x (H' + 1) x (W' + 1) cells of
    ceil(T / T') x ceil(H / H') x ceil(W / W') and cropped at a random shift to T x H x W: a smooth mask
    M_i in [0, 1]. The masked clip is M_i x clip + (1 - M_i) x its ``perturbation``, and S_i its score.
    RISE's map, the score-weighted mean of the masks, carries the mean score everywhere (a constant a
    map-level metric cannot tell from noise), so the relevance reported is what keeping a pixel adds:
    sum_i S_i M_i / sum_i M_i - mean_i S_i (E[S | pixel kept] - E[S] for binary masks), reduced by
    ``polarity`` ('positive': above the mean). The masks come from ``seed`` alone and are the same for
    every clip. Cost per clip: ``masks`` forward passes.
    Returns ``maps`` N x 1 x T x H x W (score units).
    """
    n, _, t, h, w = inputs.shape
    if not (isinstance(masks, int) and masks >= 2):
        raise VideoAttrError(f"RISE needs masks >= 2, got {masks}: set masks=500 (or more for smoother maps).")
    grid = _triple("grid", grid, "cells >= 1 per axis, e.g. grid=[4,7,7]")
    if any(g > s for g, s in zip(grid, (t, h, w))):
        raise VideoAttrError(
            f"RISE grid {list(grid)} is finer than the clip ({t} frames of {h} x {w}): set grid to at most [{t},{h},{w}]."
        )
    if not 0 < keep < 1:
        raise VideoAttrError(f"RISE's keep probability must be in (0, 1), got {keep}: set keep=0.5 (the paper's).")
    _check_common(perturbation, blur_sigma, score, polarity, batch_size)
    cells = tuple(math.ceil(s / g) for s, g in zip((t, h, w), grid))
    generator = torch.Generator().manual_seed(int(seed))
    bits = (torch.rand(masks, 1, *grid, generator=generator) < keep).float()
    shifts = torch.stack([torch.randint(cell, (masks,), generator=generator) for cell in cells], dim=1)
    removed = _removed(inputs, perturbation, blur_sigma)
    forward = _scorer(model, score)
    weighted = torch.zeros(n, t, h, w, dtype=torch.float64, device=inputs.device)
    mass = torch.zeros(t, h, w, dtype=torch.float64, device=inputs.device)
    total = torch.zeros(n, dtype=torch.float64, device=inputs.device)
    chunk = max(1, batch_size // n)
    with torch.no_grad(), _bar(masks, "RISE masks", progress) as bar:
        for start in range(0, masks, chunk):
            stop = min(start + chunk, masks)
            m = _upsample_masks(bits[start:stop], shifts[start:stop], cells, (t, h, w)).to(inputs)
            kept = m[None, :, None] * inputs[:, None] + (1 - m[None, :, None]) * removed[:, None]
            scores = forward(kept.flatten(0, 1)).gather(1, target.repeat_interleave(stop - start).view(-1, 1))
            scores = scores.view(n, stop - start).double()
            weighted += torch.einsum("nm,mthw->nthw", scores, m.double())
            mass += m.double().sum(dim=0)
            total += scores.sum(dim=1)
            bar.update(stop - start)
    relevance = weighted / mass.clamp(min=1e-12) - (total / masks).view(n, 1, 1, 1)
    return Explanation(polarity_map(relevance.unsqueeze(1), polarity), extras=cost(n, masks))


def kernel_shap(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    supervoxels: int = 200,
    compactness: float = 10.0,
    samples: int = 500,
    perturbation: str = "blur",
    blur_sigma: float = 20.0,
    score: str = "probability",
    polarity: str = "positive",
    batch_size: int = 16,
    seed: int = 0,
    progress: bool | None = None,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
) -> Explanation:
    """KernelSHAP (Lundberg and Lee 2017, Captum's ``KernelShap``) of 3-D SLIC supervoxels.

    Each clip is cut into about ``supervoxels`` supervoxels by scikit-image's ``slic`` on its T x H x W
    volume (colours un-normalised with ``mean`` and ``std``, compared in Lab; ``compactness`` trades
    colour similarity for compact, box-like supervoxels; on flat or noisy clips SLIC merges its pieces
    into few supervoxels, which is logged: raise compactness then). KernelSHAP then fits a linear model of the
    target's score on ``samples`` random coalitions (supervoxels kept; the others replaced by their
    ``perturbation``), drawn with the Shapley kernel; a supervoxel's coefficient estimates its Shapley
    value, spread over its pixels and reduced by ``polarity``. Coalitions come from ``seed`` alone, per
    clip. ``extras['supervoxels']`` holds the N x T x H x W labels. Cost per clip: ``samples`` forward
    passes and one SLIC segmentation (a clip SLIC leaves in one piece: 2 passes, its value being the
    whole change of score).
    Returns ``maps`` N x 1 x T x H x W (score units).
    """
    from captum.attr import KernelShap

    n = inputs.shape[0]
    if not (isinstance(supervoxels, int) and supervoxels >= 2):
        raise VideoAttrError(f"KernelSHAP needs supervoxels >= 2, got {supervoxels}: set supervoxels=200.")
    if not compactness > 0:
        raise VideoAttrError(f"SLIC's compactness must be > 0, got {compactness}: set compactness=10.")
    if not (isinstance(samples, int) and samples >= 2):
        raise VideoAttrError(f"KernelSHAP needs samples >= 2, got {samples}: set samples=500 (more: less noise).")
    if len(mean) != inputs.shape[1] or len(std) != inputs.shape[1]:
        raise VideoAttrError(
            f"mean and std need one value per channel, got {list(mean)} and {list(std)}: give 3 values each."
        )
    _check_common(perturbation, blur_sigma, score, polarity, batch_size)
    labels = supervoxel_labels(inputs, mean, std, supervoxels, compactness)
    counts = (labels.flatten(1).amax(dim=1) + 1).tolist()
    if min(counts) < supervoxels / 4:
        log.warning(
            "SLIC cut the clips into %s supervoxels where about %d were asked (flat or noisy clips): raise "
            "compactness for more, more regular supervoxels",
            counts,
            supervoxels,
        )
    removed = _removed(inputs, perturbation, blur_sigma)
    forward = _scorer(model, score)
    explainer = KernelShap(forward)
    attributions, passes = [], []
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    for i in range(n):
        clip = inputs[i : i + 1].detach()
        if int(labels[i].max()) == 0:  # one supervoxel (a tiny or flat clip): its Shapley value is the whole change
            with torch.no_grad():
                scores = forward(torch.cat([clip, removed[i : i + 1]]))[:, int(target[i])]
            attributions.append((scores[0] - scores[1]).expand_as(clip))
            passes.append(2)
            continue
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            attributions.append(
                explainer.attribute(
                    clip,
                    baselines=removed[i : i + 1],
                    target=int(target[i]),
                    feature_mask=labels[i : i + 1, None].expand_as(clip),
                    n_samples=samples,
                    perturbations_per_eval=batch_size,
                    show_progress=_show(progress),
                )
            )
        passes.append(samples)
    maps = polarity_map(torch.cat(attributions), polarity)
    return Explanation(maps, extras={"supervoxels": labels.int(), **cost(n, torch.tensor(passes))})


def supervoxel_labels(
    inputs: torch.Tensor, mean: Sequence[float], std: Sequence[float], supervoxels: int, compactness: float
) -> torch.Tensor:
    """N x T x H x W int64 SLIC supervoxel labels, 0 .. K_i - 1 per clip (K_i about ``supervoxels``)."""
    from skimage.segmentation import slic

    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1, 1)
    rgb = (inputs.detach().float().cpu() * std_t + mean_t).clamp(0, 1).permute(0, 2, 3, 4, 1).numpy()
    labels = []
    for volume in rgb:
        segments = slic(
            volume.astype(np.float64),
            n_segments=supervoxels,
            compactness=compactness,
            channel_axis=-1,
            convert2lab=True,
            start_label=0,
        )
        labels.append(np.unique(segments, return_inverse=True)[1].reshape(segments.shape))
    return torch.from_numpy(np.stack(labels)).long().to(inputs.device)


def _triple(key: str, value: Sequence[int], accepted: str) -> tuple[int, int, int]:
    values = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(values) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise VideoAttrError(f"Invalid {key}={value}: use three integers, {accepted}.")
    return values


def _check_common(perturbation: str, blur_sigma: float, score: str, polarity: str, batch_size: int) -> None:
    for key, value, accepted in (
        ("perturbation", perturbation, REMOVAL_PERTURBATIONS),
        ("score", score, REMOVAL_SCORES),
        ("polarity", polarity, POLARITIES),
    ):
        if value not in accepted:
            raise VideoAttrError(f"Unknown {key} '{value}': set {key} to one of {', '.join(accepted)}.")
    if not blur_sigma > 0:
        raise VideoAttrError(f"blur_sigma must be a number of pixels > 0, got {blur_sigma}: set blur_sigma=20.")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise VideoAttrError(f"batch_size must be an integer >= 1, got {batch_size}: set batch_size=16.")


def _removed(inputs: torch.Tensor, perturbation: str, blur_sigma: float) -> torch.Tensor:
    """What every pixel of ``inputs`` becomes where it is removed."""
    if perturbation == "mean":
        return inputs.detach().mean(dim=(2, 3, 4), keepdim=True).expand_as(inputs).contiguous()
    return fully_perturbed(inputs.detach(), perturbation, float(blur_sigma))


def _scorer(model: nn.Module, score: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """N x 3 x T x H x W clips -> N x classes scores: the softmax probabilities or the logits (float32)."""
    if score == "logit":
        return lambda clips: model(clips).float()
    return lambda clips: model(clips).float().softmax(dim=1)


def _upsample_masks(
    bits: torch.Tensor, shifts: torch.Tensor, cells: tuple[int, int, int], size: tuple[int, int, int]
) -> torch.Tensor:
    """M x 1 x T' x H' x W' binary grids -> M x T x H x W smooth masks: trilinear upsampling to
    (T' + 1) x (H' + 1) x (W' + 1) cells, then a crop at each mask's shift (M x 3, within one cell)."""
    grid = bits.shape[2:]
    up = F.interpolate(
        bits, size=tuple((g + 1) * c for g, c in zip(grid, cells)), mode="trilinear", align_corners=False
    )
    t, h, w = size
    return torch.stack([up[k, 0, a : a + t, b : b + h, c : c + w] for k, (a, b, c) in enumerate(shifts.tolist())])


def _show(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else bool(progress)


class _NoBar:
    def update(self, _count: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False


def _bar(total: int, description: str, progress: bool | None):
    """A tqdm progress bar over ``total`` steps when ``_show(progress)``, else one that shows nothing."""
    if not _show(progress):
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False)

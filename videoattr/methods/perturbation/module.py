"""The masks of many (clip, area) pairs as one LightningModule; one training step is one iteration.

Pair q = clip * A + area. The energy is a sum of per-pair terms and SGD acts per element, so every
pair follows the trajectory it would follow alone. Under DDP every rank holds all masks (same
initialisation) but computes the energy only of the pairs it owns (q % world_size == rank); the
ranks' gradients are summed (a DDP communication hook in place of DDP's average), and as every mask
element gets its gradient from one rank and zeros from the others, every rank gets the single-process
gradient to the bit: the optimisers stay in lockstep, and every rank ends with all the final masks
(under another data-parallel strategy, which averages, the energy is scaled by world_size). Any number of pairs
works with any number of ranks: a rank that owns no pair (more ranks than pairs) runs no forward
pass but still takes part in every collective (its loss is 0 x the masks, its gradient zeros).

A clip the classifier fails on (``videoattr.errors.is_clip_error``: a RuntimeError, a ValueError,
...) fails the fit on every rank at once, as ``PairFailure`` with that error's one-line reason: the
ranks agree on it each iteration (with the NaN check, one all-reduce), so none is left waiting in a
collective, and the caller can fit the clips again one by one to find the bad one.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from videoattr.errors import VideoAttrError, is_clip_error, reason
from videoattr.methods.perturbation.baseline import target_probability
from videoattr.methods.perturbation.losses import (
    area_loss,
    area_zeros,
    core_count,
    core_loss,
    delete_reward,
    ellipsoid_kernel,
    preserve_reward,
)
from videoattr.methods.perturbation.mask_generator import SmoothMaskGenerator, auto_sigma
from videoattr.methods.perturbation.options import PerturbationOptions
from videoattr.methods.perturbation.pyramid import blur_pyramid, fade_pyramid, fused_perturb

TERMS = ("reward", "regulariser", "core", "prob")


class PairFailure(VideoAttrError):
    """The classifier failed on a clip of the fit, on this rank or on another: every rank raises it."""


def sum_gradients(state, bucket):
    """DDP communication hook: the ranks' gradients summed (not averaged). No annotations: DDP checks
    them by identity."""
    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(lambda fut: fut.value()[0])


def owned_pairs(total: int, rank: int, world_size: int) -> torch.Tensor:
    """The pairs rank ``rank`` of ``world_size`` computes: q % world_size == rank (none when rank >= total)."""
    return torch.arange(total)[rank::world_size]


class PerturbationFit(pl.LightningModule):
    """Extremal perturbation masks for N clips x A areas.

    classifier: frozen eval-mode network; clips: N x 3 x T x H x W; target: N class indices;
    generator: parameters -> padded masks (``grid_shape``, ``padded_shape``, ``crop``), by default the
    smooth spatial ``SmoothMaskGenerator`` (the temporal method's: ``frame_mask.FrameMaskGenerator``);
    frames: None, or the K frames each pair's masks may use (N A x K indices, ``temporal_frames``): the
    masks are then fitted on those frames only and are 0 on the others.
    ``masks`` (N A x T x grid, or N A x K x grid) is the only parameter. After the fit ``history`` holds, per pair,
    the weighted energy terms and the target probability at every iteration (N A x 4 x iterations,
    rows in ``TERMS`` order) and ``final_prob`` the target probability of the preserved and of the
    deleted clip under the final mask (N A x 2).
    """

    def __init__(
        self,
        classifier: nn.Module,
        clips: torch.Tensor,
        target: torch.Tensor,
        areas: list[float],
        opts: PerturbationOptions,
        generator: nn.Module | None = None,
        frames: torch.Tensor | None = None,
    ):
        super().__init__()
        n, _, t, h, w = clips.shape
        self.classifier, self.clips, self.opts = classifier, clips, opts
        self.generator = generator or SmoothMaskGenerator(
            (h, w),
            opts.grid_step,
            opts.sigma or auto_sigma(h, w, opts.grid_step),
            opts.coldness,
            opts.compile,
        )
        hp, wp = self.generator.padded_shape
        pair_clip = torch.arange(n).repeat_interleave(len(areas))
        pair_area = areas * n
        start = getattr(self.generator, "initial", 1.0)  # the spatial masks start at 1, the temporal ones at 0
        fitted = t if frames is None else frames.shape[1]
        self.masks = nn.Parameter(
            torch.full((n * len(areas), fitted, *self.generator.grid_shape), start, device=clips.device)
        )
        self.register_buffer("frames", frames, persistent=False)
        self.floor: torch.Tensor | None = None  # delete_floor=baseline: per pair, set when the fit starts
        size = hp * wp if opts.per_frame else t * hp * wp
        self.register_buffer("pair_clip", pair_clip, persistent=False)
        self.register_buffer("pair_target", target.cpu()[pair_clip], persistent=False)
        self.register_buffer("zeros", torch.tensor([area_zeros(a, size) for a in pair_area]), persistent=False)
        if opts.core_weight:
            if any(k > s for k, s in zip(opts.core_shape, (t, hp, wp))):
                raise VideoAttrError(
                    f"STEP's core {list(opts.core_shape)} is larger than the {t} x {hp} x {wp} padded mask volume: "
                    "lower core_shape."
                )
            counts = [core_count(a, (t, hp, wp), opts.core_shape, opts.core_fill) for a in pair_area]
            self.register_buffer("core_counts", torch.tensor(counts), persistent=False)
            self.register_buffer("core_kernel", ellipsoid_kernel(opts.core_shape), persistent=False)
            self.core_positions = math.prod(
                (extent - k) // s + 1 for extent, k, s in zip((t, hp, wp), opts.core_shape, opts.core_stride)
            )
        self.register_buffer("history", torch.zeros(len(pair_area), len(TERMS), opts.iterations))
        self.register_buffer("final_prob", torch.zeros(len(pair_area), 2))
        # Buffers are identical on every rank or filled per rank and summed at the end: no DDP broadcast.
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            self, [name for name, _ in self.named_buffers()]
        )

    def train(self, mode: bool = True) -> PerturbationFit:
        super().train(mode)
        self.classifier.eval()
        return self

    def configure_optimizers(self) -> dict:
        o = self.opts
        sgd = torch.optim.SGD([self.masks], lr=o.lr, momentum=o.momentum, dampening=o.dampening)
        schedule = torch.optim.lr_scheduler.MultiStepLR(sgd, list(o.lr_milestones), o.lr_gamma)
        return {"optimizer": sgd, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_fit_start(self) -> None:
        clips = self.clips.to(self.device, self.masks.dtype)  # the dtype of a "true" precision plugin
        self.pyramid = (
            blur_pyramid(clips, self.opts.levels, self.opts.max_blur)
            if self.opts.perturbation == "blur"
            else fade_pyramid(clips, self.opts.levels)
        )
        self.owned = owned_pairs(self.masks.shape[0], self.global_rank, self.trainer.world_size).to(self.device)
        self.gradient_scale = 1
        if self.trainer.world_size > 1:
            wrapped = self.trainer.strategy.model
            if isinstance(wrapped, DistributedDataParallel):
                wrapped.register_comm_hook(None, sum_gradients)
            else:
                self.gradient_scale = self.trainer.world_size
        self.shuffle = torch.Generator(device=self.device)
        self.floor = self.delete_floor()

    def delete_floor(self) -> torch.Tensor | None:
        """``delete_floor=baseline`` with a delete term: per pair, the target probability of its clip fully
        perturbed (the pyramid's level 0), N A values; else None."""
        if self.opts.delete_floor != "baseline" or self.opts.variant == "preserve":
            return None
        clip_target = self.pair_target.view(self.clips.shape[0], -1)[:, 0]  # pairs run clip-major
        probs = target_probability(self.classifier, self.pyramid[:, 0], clip_target)
        return probs[self.pair_clip].to(self.masks.dtype)

    def padded_masks(self, pairs: torch.Tensor) -> torch.Tensor:
        """The smooth masks of ``pairs`` with their margin, Q x T x H' x W' (0 on the frames not in
        ``frames``)."""
        masks = self.generator(self.masks[pairs])
        if self.frames is None:
            return masks
        full = masks.new_zeros(len(pairs), self.clips.shape[2], *masks.shape[2:])
        return full.index_put_((torch.arange(len(pairs), device=masks.device)[:, None], self.frames[pairs]), masks)

    def scores(self, pairs: torch.Tensor, mask: torch.Tensor, senses: tuple[str, ...]) -> list[torch.Tensor]:
        """Logits of the clips of ``pairs`` perturbed with ``mask`` (Q x T x H x W), one Q x K tensor per
        sense ('preserve' keeps the masked region, 'delete' perturbs it), from one batched forward."""
        masks = [mask if sense == "preserve" else 1 - mask for sense in senses]
        clip_index = self.pair_clip[pairs].repeat(len(senses))
        clips = fused_perturb(self.pyramid, clip_index, torch.cat(masks), compile=self.opts.compile)
        return list(self.classifier(clips).chunk(len(senses)))

    def energy_terms(self, pairs: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """The weighted energy terms of ``pairs`` at iteration ``step`` and the target probability, each Q."""
        o, target = self.opts, self.pair_target[pairs]
        padded = self.padded_masks(pairs)
        senses = ("preserve", "delete") if o.variant == "dual" else (o.variant,)
        logits = self.scores(pairs, self.generator.crop(padded), senses)
        floor = None if self.floor is None else self.floor[pairs]
        rewards = {"preserve": preserve_reward, "delete": lambda z, t: delete_reward(z, t, floor)}
        reward = sum(rewards[sense](z, target) for sense, z in zip(senses, logits))
        terms = {
            "reward": o.reward_weight * reward,
            "regulariser": o.area_weight * o.area_growth**step * area_loss(padded, self.zeros[pairs], o.per_frame),
            "core": torch.zeros_like(reward),
            "prob": logits[0].softmax(dim=1).gather(1, target[:, None]).squeeze(1).detach(),
        }
        if o.core_weight and step >= o.core_start:
            self.shuffle.manual_seed(o.seed * 1_000_003 + step)
            order = torch.randperm(self.core_positions, generator=self.shuffle, device=self.device)
            counts = self.core_counts[pairs]
            terms["core"] = o.core_weight * core_loss(padded, self.core_kernel, o.core_stride, counts, order)
        return terms

    def training_step(self, step: int, batch_idx: int) -> torch.Tensor:
        """``step`` is the iteration index (the dataloader yields 0 .. iterations - 1)."""
        pairs, failure = self.owned, None
        try:
            terms = self.energy_terms(pairs, step) if len(pairs) else self.no_terms()
        except Exception as err:
            if not is_clip_error(err):
                raise
            failure, terms = err, self.no_terms()
        energy = terms["reward"] + terms["regulariser"] + terms["core"]
        # Every rank takes both decisions from one all-reduce, so all stop together: a clip the model
        # failed on, and NaN masks (which make the energy NaN too).
        flags = torch.tensor([failure is not None, not bool(torch.isfinite(energy).all())], device=self.device)
        failed, non_finite = self.trainer.strategy.reduce(flags.float(), reduce_op="sum").tolist()
        if failed:
            raise PairFailure(self.first_reason(failure)) from failure
        if non_finite:
            raise VideoAttrError(
                f"The perturbation energy became NaN or infinite at iteration {step}: the classifier gives "
                "non-finite scores for these clips or their masks, so check the model and its inputs (or lower lr)."
            )
        self.history[pairs, :, step] = torch.stack([terms[k].detach() for k in TERMS], dim=1).to(self.history.dtype)
        every = self.trainer.log_every_n_steps
        if every and ((step + 1) % every == 0 or step + 1 == self.opts.iterations):
            # Only on the steps the loggers write: each self.log costs milliseconds.
            total = self.masks.shape[0]
            self.log_dict(
                {k: v.detach().sum() / total for k, v in terms.items()},
                on_step=True,
                on_epoch=False,
                prog_bar=True,
                sync_dist=True,
                reduce_fx="sum",
            )
        if not len(pairs):
            return self.masks.sum() * 0.0  # this rank's share of DDP's gradient all-reduce: zeros
        return energy.sum() * self.gradient_scale

    def no_terms(self) -> dict[str, torch.Tensor]:
        """The energy terms of no pair: empty tensors."""
        return {k: torch.zeros(0, device=self.device) for k in TERMS}

    def first_reason(self, failure: BaseException | None) -> str:
        """The one-line reason of the first rank whose pairs failed (every rank gets the same)."""
        mine = reason(failure) if failure is not None else None
        if self.trainer.world_size > 1 and torch.distributed.is_initialized():
            reasons: list[str | None] = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(reasons, mine)
            mine = next(r for r in reasons if r is not None)
        return mine

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        with torch.no_grad():
            self.masks.clamp_(0, 1)

    def on_train_end(self) -> None:
        pairs = self.owned
        if len(pairs):
            with torch.no_grad():
                logits = self.scores(pairs, self.generator.crop(self.padded_masks(pairs)), ("preserve", "delete"))
                target = self.pair_target[pairs][:, None]
                probs = [z.float().softmax(dim=1).gather(1, target).squeeze(1) for z in logits]
                self.final_prob[pairs] = torch.stack(probs, dim=1).to(self.final_prob.dtype)
        for buffer in (self.history, self.final_prob):
            buffer.copy_(self.trainer.strategy.reduce(buffer, reduce_op="sum"))

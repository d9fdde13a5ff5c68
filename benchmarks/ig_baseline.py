"""Why integrated gradients from a black clip miss on the synthetic MViT, and which baseline finds the disk.

On the 8 benchmark clips with ``--model`` (default ``synthetic_mvit``) it prints:

1. for a uniform clip of each baseline colour (black: -mean / std; zero: 0 after normalisation, the value
   the patch embedding's zero padding shows the model), how many tokens of the patch embedding differ from
   the centre token, and in which frames, rows and columns of the token grid;
2. along the path from black to the clips, at alpha in ``--alphas``: the target's mean probability and how
   much of the input gradient's magnitude lies in each frame's top-left 8 x 8 pixels (its share of the
   frame's area is 0.5 %);
3. integrated gradients (``steps`` each, as ``--baselines`` and ``--steps`` pair them): pointing game and
   energy in the disk's mask, averaged over the clips, and the (row, column) of the first clips' maxima.

Usage: python -m benchmarks.ig_baseline [--model synthetic_mvit] [--baselines black zero] [--steps 25 25]
           [--alphas 0 0.5 0.75 1]   (--baselines --steps with nothing: parts 1 and 2 only)
"""

from __future__ import annotations

import argparse

import torch
from hydra import compose, initialize_config_dir

import videoattr  # noqa: F401  (registers the ${asset:...} resolver)
from benchmarks.benchmark import CONF
from videoattr.data import build_dataset
from videoattr.methods.backprop import integrated_gradients
from videoattr.metrics.localisation import energy_in_mask, pointing_game
from videoattr.models import load_model


def padding_tokens(net, mean: torch.Tensor, std: torch.Tensor, shape: tuple[int, ...]) -> None:
    """Which tokens of ``net.conv_proj`` (an MViT's patch embedding) differ on uniform clips."""
    for name, value in (("black", -mean / std), ("zero", torch.zeros_like(mean))):
        tokens = net.conv_proj(value.expand(1, *shape))[0]  # C x T' x H' x W'
        centre = tokens[:, tokens.shape[1] // 2, tokens.shape[2] // 2, tokens.shape[3] // 2]
        off = (tokens - centre.view(-1, 1, 1, 1)).norm(dim=0) > 1e-4  # T' x H' x W'
        edge = off[1:, 0, :].sum() + off[1:, 1:, 0].sum()  # row 0 and column 0 of the later frames
        print(
            f"uniform {name} clip: {int(off.sum())} of {off.numel()} tokens differ from the centre token: "
            f"{int(off[0].sum())} in token frame 0, {int(edge)} in row 0 or column 0 of frames 1-{off.shape[0] - 1}, "
            f"{int(off[1:, 1:, 1:].sum())} elsewhere"
        )


def path_gradients(net, clips, targets, black, alphas: list[float]) -> None:
    """Target probability and the top-left 8 x 8 pixels' share of |gradient| along the path from black."""
    for alpha in alphas:
        point = (black + alpha * (clips - black)).requires_grad_(True)
        logits = net(point)
        (grad,) = torch.autograd.grad(logits.gather(1, targets.view(-1, 1)).sum(), point)
        magnitude = grad.abs().sum(dim=(0, 1, 2))  # H x W
        share = magnitude[:8, :8].sum() / magnitude.sum()
        prob = logits.softmax(1).gather(1, targets.view(-1, 1)).mean()
        print(f"alpha {alpha:.2f}: target probability {prob:.3f}, top-left 8 x 8 share of |gradient| {share:.3f}")


def scores(net, clips, targets, masks, mean, std, baseline: str, steps: int) -> None:
    maps = integrated_gradients(net, clips, targets, mean=mean, std=std, baseline=baseline, steps=steps).maps[:, 0]
    pointing = sum(pointing_game(m, g) for m, g in zip(maps, masks, strict=True)) / len(masks)
    energy = sum(energy_in_mask(m, g) for m, g in zip(maps, masks, strict=True)) / len(masks)
    peaks = [divmod(int(m.amax(0).argmax()), m.shape[-1]) for m in maps[:4]]
    print(f"integrated_grad baseline={baseline} steps={steps}: pointing {pointing:.3f}, energy {energy:.4f}, "
          f"maxima (row, column) of clips 1-4 {peaks}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="synthetic_mvit")
    parser.add_argument("--baselines", nargs="*", default=["black", "zero"], choices=["black", "zero"])
    parser.add_argument("--steps", nargs="*", type=int, default=[25, 25], help="one per baseline")
    parser.add_argument("--alphas", nargs="*", type=float, default=[0.0, 0.5, 0.75, 1.0])
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"model={args.model}"])
    net, spec = load_model(cfg.model)
    items = list(build_dataset(cfg.dataset, spec, seed=0))
    clips, masks = torch.stack([i["clip"] for i in items]), torch.stack([i["gt_mask"] for i in items])
    targets = torch.tensor([i["target"] for i in items])
    mean, std = (torch.tensor(v).view(-1, 1, 1, 1) for v in (spec.mean, spec.std))
    if hasattr(net, "conv_proj"):
        padding_tokens(net, mean, std, tuple(clips.shape[1:]))
    path_gradients(net, clips, targets, (-mean / std).expand_as(clips[0]), args.alphas)
    for baseline, steps in zip(args.baselines, args.steps, strict=True):
        scores(net, clips, targets, masks, list(spec.mean), list(spec.std), baseline, steps)


if __name__ == "__main__":
    main()

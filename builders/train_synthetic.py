"""Train the synthetic-world 3D CNN (or its MViT or ViT), check it, and write its checkpoint.

    OMP_NUM_THREADS=2 python builders/train_synthetic.py --seed 0 --out videoattr/assets/synthetic/model.pt
    OMP_NUM_THREADS=2 python builders/train_synthetic.py --arch mvit   # videoattr/assets/synthetic/mvit.pt
    OMP_NUM_THREADS=1 python builders/train_synthetic.py --arch vit --workers 1   # videoattr/assets/synthetic/vit.pt

``--arch`` picks the network: ``cnn``, the 3D CNN of conf/model/synthetic.yaml, ``mvit``, the small
torchvision MViT of conf/model/synthetic_mvit.yaml, or ``vit``, the small ``transformers`` ViViT with a
convolutional stem of conf/model/synthetic_vit.yaml; each has its own default steps, learning rate and
output (a state dict). All are trained and checked the same way; the ViT's stem also feeds an auxiliary
head during training (``Arch.stem``, ``Classifier``).

The model must have no default class: a clip without visible evidence belongs to no class. So a
third of the training clips carry no evidence (the red disk removed, the clip fully blurred with
sigma 20 per frame, or fully faded to 0) and are trained towards the uniform distribution; the
rest are ordinary clips with their label. Every training clip is fresh (clip i of seed ``seed``).

At the end the script prints, on the 8 shipped clips (regenerated from their seeds, as
builders/make_synthetic_clips.py writes them) and on ``--held-out`` fresh clips of seed ``seed + 1``:
the accuracy on the clean clips and the largest class probability of any fully blurred, fully faded
or disk-removed clip; it exits with status 1 if accuracy < 0.99 or any such probability > 0.35.
Same seed, same checkpoint.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from videoattr.methods.perturbation.pyramid import blur
from videoattr.models.synthetic import SyntheticNet, synthetic_mvit, synthetic_vit
from videoattr.synthetic import CLASSES, World, normalise, render_clip
from videoattr.synthetic.generator import DIRECTIONS

# What a training clip shows, cycling with its index: evidence twice as often as no evidence.
KINDS = ("clip", "clip", "removed", "clip", "clip", "blurred", "clip", "clip", "faded")
NO_EVIDENCE = ("blurred", "faded", "removed")
MAX_BLUR = 20.0
WORLD = World()
SHIPPED_SEED, SHIPPED_PER_CLASS = 100, 2
MIN_ACCURACY, MAX_PROBABILITY = 0.99, 0.35
PRINT_EVERY = 25
# The world's symmetries: a clip with its rows or columns flipped, the two swapped or time reversed is a clip of
# the world whose disk moves the transformed way. The identity first.
SYMMETRIES = list(itertools.product((False, True), repeat=4))


@dataclass(frozen=True)
class Arch:
    """A network (of the number of classes), the defaults of --steps, --lr, --out and --curriculum, and how its
    training items are drawn (``reuse``) and its stem supervised (``stem``)."""

    make: Callable[[int], nn.Module]
    steps: int
    lr: float
    out: Path
    reuse: int = 1  # training items per rendered clip: the clip, then reuse - 1 of its symmetric versions
    # A module of the network whose N x C x T' x H' x W' output also feeds, during training only, an auxiliary
    # head (the max over positions, then a linear layer) whose cross-entropy is added to the loss.
    stem: str | None = None
    curriculum: float = 1.0  # the disk's radius on the first clip, x the world's, falling to 1 x at half the steps


ASSETS = Path("videoattr/assets/synthetic")
ARCHS = {
    "cnn": Arch(SyntheticNet, steps=400, lr=3e-3, out=ASSETS / "model.pt"),
    "mvit": Arch(synthetic_mvit, steps=600, lr=1e-3, out=ASSETS / "mvit.pt"),
    "vit": Arch(
        synthetic_vit,
        steps=600,
        lr=2e-3,
        out=ASSETS / "vit.pt",
        reuse=3,
        stem="model.vivit.embeddings.patch_embeddings.projection",
    ),
}


def clip_of_kind(rng: np.random.Generator, label: int, kind: str, world: World = WORLD) -> torch.Tensor:
    """A normalised 3 x T x H x W clip of ``world``: the clip itself or one of its evidence-free versions."""
    frames, _, _ = render_clip(rng, label, world, with_target=kind != "removed")
    clip = normalise(frames)
    if kind == "blurred":
        return blur(clip, MAX_BLUR)
    if kind == "faded":
        return torch.zeros_like(clip)
    return clip


def symmetric(clip: torch.Tensor, label: int, symmetry: tuple[bool, ...]) -> tuple[torch.Tensor, int]:
    """A 3 x T x H x W clip and its class under ``symmetry`` (flip rows, flip columns, swap them, reverse time)."""
    flip_rows, flip_columns, swap, reverse = symmetry
    dy, dx = DIRECTIONS[CLASSES[label]]
    if flip_rows:
        clip, dy = clip.flip(2), -dy
    if flip_columns:
        clip, dx = clip.flip(3), -dx
    if swap:
        clip, dy, dx = clip.transpose(2, 3), dx, dy
    if reverse:
        clip, dy, dx = clip.flip(1), -dy, -dx
    return clip, next(CLASSES.index(name) for name, d in DIRECTIONS.items() if d == (dy, dx))


class TrainingClips(Dataset):
    """Item ``i`` of ``seed``: ``clip`` and ``target``, a probability vector over the classes
    (one-hot for a clip with evidence, uniform for one without). Every ``reuse`` items share one rendered
    clip (clip ``i // reuse`` of ``seed``): itself, then symmetric versions of it. The disk of the first clip
    is ``curriculum`` x the world's radius, falling linearly to 1 x at half the items."""

    def __init__(self, length: int, seed: int, reuse: int = 1, curriculum: float = 1.0):
        self.length, self.seed, self.reuse, self.curriculum = length, seed, reuse, curriculum
        self.rendered: tuple[int, torch.Tensor] | None = None  # the last (clip index, clip): items come in order

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        base, variant = divmod(i, self.reuse)
        kind = KINDS[base % len(KINDS)]
        label = (base // len(KINDS) + base) % len(CLASSES)
        if self.rendered is None or self.rendered[0] != base:
            rng = np.random.default_rng([self.seed, base])
            self.rendered = base, clip_of_kind(rng, label, kind, self.world(base * self.reuse))
        clip = self.rendered[1]
        if variant:
            clip, label = symmetric(clip, label, SYMMETRIES[1 + (base + variant - 1) % (len(SYMMETRIES) - 1)])
        target = (
            torch.full((len(CLASSES),), 1 / len(CLASSES))
            if kind in NO_EVIDENCE
            else F.one_hot(torch.tensor(label), len(CLASSES)).float()
        )
        return {"clip": clip, "target": target}

    def world(self, i: int) -> World:
        """The world of item ``i``: its disk enlarged by the curriculum."""
        scale = 1 + (self.curriculum - 1) * max(0.0, 1 - 2 * i / self.length)
        return World(target_radius=tuple(scale * r for r in WORLD.target_radius))


class Classifier(pl.LightningModule):
    """Trains ``net``; with ``stem`` (a module name in it) an auxiliary max-pooling head on that module's
    output adds its cross-entropy (deep supervision: the ViT's stem learns the disk's motion in ~100 steps that
    way; trained through the transformer's head alone, by mean pooling or a class token, runs of 150-325 steps
    stayed at chance); the loss logged and printed is then the sum of both. Only ``net`` is saved."""

    def __init__(self, net: nn.Module, lr: float, steps: int, stem: str | None = None):
        super().__init__()
        self.net = net
        self.lr, self.steps = lr, steps
        self.stem_output: torch.Tensor | None = None
        self.aux = None
        if stem is not None:
            net.get_submodule(stem).register_forward_hook(lambda _m, _args, out: setattr(self, "stem_output", out))
            with torch.no_grad():  # the stem's channels, from one blank clip (eval: BatchNorm statistics untouched)
                net.eval()(torch.zeros(1, 3, WORLD.num_frames, WORLD.size, WORLD.size))
            self.aux = nn.Linear(self.stem_output.shape[1], len(CLASSES))

    def training_step(self, batch: dict, step: int) -> torch.Tensor:
        logits = self.net(batch["clip"])
        loss = F.cross_entropy(logits, batch["target"])
        if self.aux is not None:
            loss = loss + F.cross_entropy(self.aux(self.stem_output.flatten(2).amax(dim=2)), batch["target"])
        evidence = batch["target"].max(dim=1).values == 1
        accuracy = (logits.argmax(dim=1) == batch["target"].argmax(dim=1))[evidence].float().mean()
        self.log_dict({"loss": loss, "accuracy": accuracy}, prog_bar=True)
        if step % PRINT_EVERY == 0:  # a line a log file keeps, to see early whether it learns
            print(
                f"step {step}: loss {loss:.4f}, accuracy on the batch's clips with evidence {accuracy:.2f}", flush=True
            )
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.lr, total_steps=self.steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def check_clips(held_out: int, seed: int) -> dict[str, list[tuple[np.random.Generator, int]]]:
    """The generators and labels of the clips to check on: the shipped ones and fresh ones."""
    shipped = [
        (np.random.default_rng([SHIPPED_SEED, label, i]), label)
        for label in range(len(CLASSES))
        for i in range(SHIPPED_PER_CLASS)
    ]
    fresh = [(np.random.default_rng([seed, i]), i % len(CLASSES)) for i in range(held_out)]
    return {"shipped": shipped, "fresh": fresh}


@torch.no_grad()
def evaluate(net: nn.Module, clips: list[tuple[np.random.Generator, int]]) -> dict[str, float]:
    """Accuracy on the clean clips and the largest class probability of each evidence-free kind."""
    net.eval()
    correct, worst = 0, dict.fromkeys(NO_EVIDENCE, 0.0)
    for rng, label in clips:
        state = rng.bit_generator.state
        for kind in ("clip", *NO_EVIDENCE):
            rng.bit_generator.state = state  # the same clip, shown each way
            probs = net(clip_of_kind(rng, label, kind)[None]).softmax(dim=1)[0]
            if kind == "clip":
                correct += int(probs.argmax()) == label
            else:
                worst[kind] = max(worst[kind], probs.max().item())
    return {"accuracy": correct / len(clips), **{f"max_prob_{k}": v for k, v in worst.items()}}


def by_arch(key: str) -> str:
    """The help of an option whose default depends on --arch."""
    return "default: " + ", ".join(f"{getattr(spec, key)} ({arch})" for arch, spec in ARCHS.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=ARCHS, default="cnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help=by_arch("steps"))
    parser.add_argument("--batch-size", type=int, default=18)
    parser.add_argument("--lr", type=float, help=by_arch("lr"))
    parser.add_argument("--curriculum", type=float, help=by_arch("curriculum"))
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", type=Path, help=by_arch("out"))
    args = parser.parse_args()
    arch = ARCHS[args.arch]
    for key in ("steps", "lr", "out", "curriculum"):
        if getattr(args, key) is None:
            setattr(args, key, getattr(arch, key))

    pl.seed_everything(args.seed)
    model = Classifier(arch.make(len(CLASSES)), args.lr, args.steps, arch.stem)
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", deterministic=True, logger=False, enable_checkpointing=False)
    train = TrainingClips(args.steps * args.batch_size, args.seed, arch.reuse, args.curriculum)
    trainer.fit(model, DataLoader(train, args.batch_size, num_workers=args.workers))

    ok = True
    for name, clips in check_clips(args.held_out, args.seed + 1).items():
        scores = evaluate(model.net, clips)
        print(f"{len(clips)} {name} clips: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        ok &= scores["accuracy"] >= MIN_ACCURACY
        ok &= all(v <= MAX_PROBABILITY for k, v in scores.items() if k.startswith("max_prob"))
    print(
        f"targets (accuracy >= {MIN_ACCURACY}, every evidence-free probability <= {MAX_PROBABILITY}): "
        + ("met" if ok else "NOT met")
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.net.state_dict(), args.out)
    print(f"wrote {args.out}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

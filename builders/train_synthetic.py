"""Train the synthetic-world 3D CNN (or its MViT), check it, and write its checkpoint.

    OMP_NUM_THREADS=2 python builders/train_synthetic.py --seed 0 --out videoattr/assets/synthetic/model.pt
    OMP_NUM_THREADS=2 python builders/train_synthetic.py --arch mvit   # videoattr/assets/synthetic/mvit.pt

``--arch`` picks the network: ``cnn``, the 3D CNN of conf/model/synthetic.yaml, or ``mvit``, the small
torchvision MViT of conf/model/synthetic_mvit.yaml; each has its own default steps, learning rate and
output file. Both are trained and checked the same way.

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
import sys
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from videoattr.methods.perturbation.pyramid import blur
from videoattr.models.synthetic import SyntheticNet, synthetic_mvit
from videoattr.synthetic import CLASSES, normalise, render_clip

# What a training clip shows, cycling with its index: evidence twice as often as no evidence.
KINDS = ("clip", "clip", "removed", "clip", "clip", "blurred", "clip", "clip", "faded")
NO_EVIDENCE = ("blurred", "faded", "removed")
MAX_BLUR = 20.0
SHIPPED_SEED, SHIPPED_PER_CLASS = 100, 2
MIN_ACCURACY, MAX_PROBABILITY = 0.99, 0.35
# Per architecture: the network (of the number of classes) and the defaults of --steps, --lr and --out.
ARCHS = {
    "cnn": (SyntheticNet, {"steps": 400, "lr": 3e-3, "out": Path("videoattr/assets/synthetic/model.pt")}),
    "mvit": (synthetic_mvit, {"steps": 600, "lr": 1e-3, "out": Path("videoattr/assets/synthetic/mvit.pt")}),
}


def clip_of_kind(rng: np.random.Generator, label: int, kind: str) -> torch.Tensor:
    """A normalised 3 x T x H x W clip: the clip itself or one of its evidence-free versions."""
    frames, _, _ = render_clip(rng, label, with_target=kind != "removed")
    clip = normalise(frames)
    if kind == "blurred":
        return blur(clip, MAX_BLUR)
    if kind == "faded":
        return torch.zeros_like(clip)
    return clip


class TrainingClips(Dataset):
    """Clip ``i`` of ``seed``: ``clip`` and ``target``, a probability vector over the classes
    (one-hot for a clip with evidence, uniform for one without)."""

    def __init__(self, length: int, seed: int):
        self.length, self.seed = length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        kind = KINDS[i % len(KINDS)]
        label = (i // len(KINDS) + i) % len(CLASSES)
        clip = clip_of_kind(np.random.default_rng([self.seed, i]), label, kind)
        target = (
            torch.full((len(CLASSES),), 1 / len(CLASSES))
            if kind in NO_EVIDENCE
            else F.one_hot(torch.tensor(label), len(CLASSES)).float()
        )
        return {"clip": clip, "target": target}


class Classifier(pl.LightningModule):
    def __init__(self, net: torch.nn.Module, lr: float, steps: int):
        super().__init__()
        self.net = net
        self.lr, self.steps = lr, steps

    def training_step(self, batch: dict, _) -> torch.Tensor:
        loss = F.cross_entropy(self.net(batch["clip"]), batch["target"])
        self.log("loss", loss, prog_bar=True)
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
def evaluate(net: torch.nn.Module, clips: list[tuple[np.random.Generator, int]]) -> dict[str, float]:
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
    return "default: " + ", ".join(f"{defaults[key]} ({arch})" for arch, (_, defaults) in ARCHS.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=ARCHS, default="cnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help=by_arch("steps"))
    parser.add_argument("--batch-size", type=int, default=18)
    parser.add_argument("--lr", type=float, help=by_arch("lr"))
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", type=Path, help=by_arch("out"))
    args = parser.parse_args()
    make_net, defaults = ARCHS[args.arch]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    pl.seed_everything(args.seed)
    model = Classifier(make_net(len(CLASSES)), args.lr, args.steps)
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", deterministic=True, logger=False, enable_checkpointing=False)
    train = TrainingClips(args.steps * args.batch_size, seed=args.seed)
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

"""Train the synthetic-world 3D CNN and write its checkpoint.

    OMP_NUM_THREADS=1 python scripts/train_synthetic.py --seed 0 --out videoattr/assets/synthetic/model.pt

Every training clip is fresh (clip i of seed ``seed``); held-out clips come from seed ``seed + 1``.
Same seed, same checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from videoattr.models.synthetic import SyntheticNet
from videoattr.synthetic import CLASSES, SyntheticClips


class Classifier(pl.LightningModule):
    def __init__(self, lr: float, steps: int):
        super().__init__()
        self.net = SyntheticNet(len(CLASSES))
        self.lr, self.steps = lr, steps

    def training_step(self, batch: dict, _) -> torch.Tensor:
        loss = F.cross_entropy(self.net(batch["clip"]), batch["target"])
        self.log("loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict, _) -> None:
        correct = self.net(batch["clip"]).argmax(1) == batch["target"]
        self.log("accuracy", correct.float().mean(), prog_bar=True)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.lr, total_steps=self.steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--held-out", type=int, default=400)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("videoattr/assets/synthetic/model.pt"))
    args = parser.parse_args()

    pl.seed_everything(args.seed)
    train = SyntheticClips(args.steps * args.batch_size, seed=args.seed)
    held_out = SyntheticClips(args.held_out, seed=args.seed + 1)
    model = Classifier(args.lr, args.steps)
    trainer = pl.Trainer(
        max_epochs=1, accelerator="cpu", deterministic=True, logger=False, enable_checkpointing=False
    )
    trainer.fit(
        model,
        DataLoader(train, args.batch_size, num_workers=args.workers),
        DataLoader(held_out, 50, num_workers=args.workers),
    )
    accuracy = trainer.callback_metrics["accuracy"].item()
    print(f"held-out accuracy {accuracy:.4f} on {args.held_out} clips of seed {args.seed + 1}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.net.state_dict(), args.out)


if __name__ == "__main__":
    main()

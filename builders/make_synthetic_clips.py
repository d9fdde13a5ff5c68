"""Write demo clips of the synthetic world, their ground-truth masks and the class list.

    python builders/make_synthetic_clips.py --per-class 2 --seed 100 --out videoattr/assets/synthetic

writes ``<out>/classes.json`` and ``<out>/clips/<class>-<seed>_<i>.mp4`` + ``.npz`` (key ``mask``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from videoattr.synthetic import CLASSES, render_clip, save_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=2)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("videoattr/assets/synthetic"))
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "classes.json").write_text(json.dumps(list(CLASSES)) + "\n")
    for label, name in enumerate(CLASSES):
        for i in range(args.per_class):
            frames, mask, _ = render_clip(np.random.default_rng([args.seed, label, i]), label)
            print(save_clip(args.out / "clips", f"{name}-{args.seed}_{i}", frames, mask))


if __name__ == "__main__":
    main()

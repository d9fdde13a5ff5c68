"""Make the README's demo figure from a finished `make demo` run.

    make demo && python builders/make_demo_figure.py outputs/demo docs/demo.png

Stacks the figure of the first clip of each class found in RUN_DIR/results.csv (one PNG per clip,
written by the run) into one image, one class per row block.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1200, help="width of the image in pixels")
    args = parser.parse_args()

    results = args.run_dir / "results.csv"
    if not results.is_file():
        sys.exit(f"error: {results} does not exist: run `make demo` first, or pass the demo's run directory.")
    clips = pd.read_csv(results).drop_duplicates("label")["clip"]
    images = []
    for clip in clips:
        figure = args.run_dir / "figures" / f"{clip}.png"
        if not figure.is_file():
            sys.exit(f"error: {figure} does not exist: run the demo with figures=true.")
        image = Image.open(figure).convert("RGB")
        images.append(np.asarray(image.resize((args.width, round(image.height * args.width / image.width)))))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(images)).save(args.out, optimize=True)
    print(f"wrote {args.out} ({len(images)} clips: {', '.join(clips)})")


if __name__ == "__main__":
    main()

"""Gather every job's results.csv under a sweep directory into summary.csv and plots.

Usage: python scripts/summarize.py outputs/sweeps/<date>
"""

import argparse
import sys
from pathlib import Path

from videoattr.errors import VideoAttrError
from videoattr.sweep import summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args()
    try:
        path = summarize(args.sweep_dir)
    except VideoAttrError as err:
        sys.exit(f"error: {err}")
    print(f"Summary: {path} (plots: {args.sweep_dir}/plot_*.png)")


if __name__ == "__main__":
    main()

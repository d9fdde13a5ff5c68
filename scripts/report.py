"""Write a self-contained HTML report of a run or sweep directory.

Usage: python scripts/report.py outputs/runs/<run>   (or outputs/sweeps/<sweep>)
"""

import argparse
import sys
from pathlib import Path

from videoattr.errors import VideoAttrError
from videoattr.report import build_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    try:
        path = build_report(args.directory)
    except VideoAttrError as err:
        sys.exit(f"error: {err}")
    print(f"Report: {path}")


if __name__ == "__main__":
    main()

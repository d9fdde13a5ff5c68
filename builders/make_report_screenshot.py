"""Screenshot an HTML report in headless Chromium, as a reader's 1400-pixel-wide window shows it.

    videoattr-report outputs/demo
    python builders/make_report_screenshot.py outputs/demo/report.html docs/report.png --height 1250 --resize 900

Takes the top WIDTH x HEIGHT pixels of the page (``chromium --headless --screenshot``) and, with
--resize, scales the image down to that width in 256 colours (a small PNG for the README).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium() -> str | None:
    """The Chromium executable on PATH (None when there is none)."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(page: Path, out: Path, width: int = 1400, height: int = 1000, resize: int = 0) -> Path:
    """Write the top ``width`` x ``height`` pixels of ``page`` as shown by headless Chromium to ``out``
    (scaled down to ``resize`` pixels wide, in 256 colours, when given)."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("Chromium is not installed: install it (apt-get install chromium) and run again.")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--virtual-time-budget=5000",
                f"--screenshot={out}",
                Path(page).resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"Chromium could not take the screenshot: {done.stderr.strip()[-500:]}")
    if resize:
        with Image.open(out) as image:
            small = image.convert("RGB").resize((resize, round(image.height * resize / image.width)), Image.LANCZOS)
        small.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)  # keeps the frames' colours
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("page", type=Path, help="the report.html to show")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400, help="window width in pixels (default 1400)")
    parser.add_argument("--height", type=int, default=1000, help="window height in pixels (default 1000)")
    parser.add_argument("--resize", type=int, default=0, help="scale the PNG down to this width (default: keep)")
    args = parser.parse_args()
    if not args.page.is_file():
        sys.exit(f"error: {args.page} does not exist: run `videoattr-report <run dir>` first.")
    try:
        out = screenshot(args.page, args.out, args.width, args.height, args.resize)
    except (FileNotFoundError, RuntimeError) as err:
        sys.exit(f"error: {err}")
    with Image.open(out) as image:
        print(f"wrote {out} ({image.width} x {image.height})")


if __name__ == "__main__":
    main()

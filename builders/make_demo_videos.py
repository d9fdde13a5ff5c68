"""Encode the reference's demo frame folders as small H.264 videos under videoattr/assets/demo/.

    python builders/make_demo_videos.py --source /path/to/seed_test_data

``--source`` (required) is the reference's test data folder, holding ``kinetics/``,
``epic-kitchens-noun/`` and ``epic-kitchens-verb/``. Each ``<source>/<dataset>/sampled_frames/<clip>/`` folder of PNG frames becomes
``<dest>/<name>/<clip>.mp4`` (same name, spaces kept), scaled so its short side is ``--short-side``
pixels; the dataset's class list is copied beside the videos. Every video is read back with decord
to check its frame count and size.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import av
import decord
import numpy as np
from PIL import Image

DATASETS = {  # source folder -> (demo name, class list)
    "kinetics": ("kinetics", "classes.json"),
    "epic-kitchens-noun": ("epic_noun", "EPIC_noun_classes.csv"),
    "epic-kitchens-verb": ("epic_verb", "EPIC_verb_classes.csv"),
}


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side at ``short_side``, both even (H.264 with yuv420p needs it)."""
    scale = short_side / min(width, height)
    return 2 * round(width * scale / 2), 2 * round(height * scale / 2)


def encode(frame_files: list[Path], dest: Path, short_side: int, fps: int, crf: int) -> tuple[int, int]:
    """Write the frames as an H.264 mp4 (no B-frames); returns its (width, height)."""
    with Image.open(frame_files[0]) as first:
        size = scaled_size(*first.size, short_side)
    with av.open(str(dest), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "slow", "bf": "0"}
        for file in frame_files:
            with Image.open(file) as img:
                rgb = np.asarray(img.convert("RGB").resize(size, Image.Resampling.LANCZOS))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return size


def check(video: Path, num_frames: int, size: tuple[int, int]) -> None:
    reader = decord.VideoReader(str(video))
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    if frames.shape != (num_frames, size[1], size[0], 3):
        raise SystemExit(f"{video} reads back as {frames.shape}, expected {num_frames} frames of {size}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--source",
        type=Path,
        required=True,
        help="the reference's test data folder (with kinetics/, epic-kitchens-noun/, epic-kitchens-verb/)",
    )
    parser.add_argument("--dest", type=Path, default=Path(__file__).parents[1] / "videoattr/assets/demo")
    parser.add_argument("--short-side", type=int, default=256)
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--crf", type=int, default=20)
    args = parser.parse_args()
    missing = [
        str(args.source / name / "sampled_frames")
        for name in DATASETS
        if not (args.source / name / "sampled_frames").is_dir()
    ]
    if missing:
        parser.error(
            f"--source {args.source} lacks {', '.join(missing)}: give the reference's test data folder "
            f"(with {', '.join(f'{name}/sampled_frames/' for name in DATASETS)})"
        )

    for source_name, (demo_name, class_list) in DATASETS.items():
        source, dest = args.source / source_name, args.dest / demo_name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / class_list, dest / class_list)
        for folder in sorted(p for p in (source / "sampled_frames").iterdir() if p.is_dir()):
            frames = sorted(folder.glob("*.png"))
            video = dest / f"{folder.name}.mp4"
            check(video, len(frames), encode(frames, video, args.short_side, args.fps, args.crf))
        total = sum(p.stat().st_size for p in dest.iterdir())
        print(f"{dest}: {len(list(dest.glob('*.mp4')))} videos, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

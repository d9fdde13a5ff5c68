"""A folder of clips (video files or frame folders) as a torch Dataset of model-ready items."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset, get_worker_info

from videoattr.data.classes import load_class_aliases, load_class_list, resolve_label
from videoattr.data.readers import VIDEO_EXTENSIONS, frame_files, is_frame, is_video, natural_key, open_clip
from videoattr.data.sampling import sample_indices
from videoattr.data.shards import shard_of
from videoattr.data.transforms import preprocess, resize_crop_mask
from videoattr.data.windows import window_indices, window_name, window_starts
from videoattr.errors import VideoAttrError
from videoattr.models.spec import ModelSpec


def list_clips(root: str | Path) -> list[Path]:
    """The clips under ``root``: its video files, or its frame folders, in name order.

    ``root`` may also be a single video file or a single frame folder. Sub-folders without frames
    and other files (class lists, masks) are ignored; a folder mixing videos and frames is an error.
    """
    root = Path(root)
    if not root.exists():
        raise VideoAttrError(
            f"Dataset root {root} does not exist: set dataset.root to a folder of videos or frame folders."
        )
    if is_video(root):
        return [root]
    if not root.is_dir():
        raise VideoAttrError(
            f"Dataset root {root} is not a video file ({', '.join(VIDEO_EXTENSIONS)}) or a folder: check dataset.root."
        )
    entries = sorted((p for p in root.iterdir() if not p.name.startswith(".")), key=natural_key)
    videos = [p for p in entries if is_video(p)]
    loose_frames = [p for p in entries if is_frame(p)]
    folders = [p for p in entries if p.is_dir() and frame_files(p)]
    if videos and (loose_frames or folders):
        raise VideoAttrError(
            f"Folder {root} mixes video files and frame images: keep videos and frame folders in separate roots."
        )
    if loose_frames and folders:
        raise VideoAttrError(
            f"Folder {root} holds both frame images and frame folders: move the loose images into a folder of their own."
        )
    if loose_frames:
        return [root]
    if not (videos or folders):
        raise VideoAttrError(
            f"Folder {root} holds no videos or frame folders: point dataset.root at a folder of "
            f"video files ({', '.join(VIDEO_EXTENSIONS)}) or of folders of .png/.jpg frames."
        )
    return videos or folders


def name_of(path: Path) -> str:
    """A clip's name: the file stem of a video, the folder name of a frame folder."""
    return path.name if path.is_dir() else path.stem


def label_from_name(name: str) -> str:
    """The label in a clip name: the part before the first '-' (``ironing-3sEk_w2T8Fw_15_10`` -> ``ironing``).

    Names without a '-' carry no label ("").
    """
    head, sep, _ = name.partition("-")
    return head if sep else ""


def load_label_file(path: str | Path) -> dict[str, str]:
    """Clip name -> label from a CSV with ``clip`` and ``label`` columns or a JSON object {clip: label}."""
    path = Path(path)
    if not path.is_file():
        raise VideoAttrError(f"Label file {path} does not exist: fix dataset.label_file or set it to null.")
    if path.suffix == ".json":
        labels = json.loads(path.read_text())
        if not isinstance(labels, dict):
            raise VideoAttrError(f'Label file {path} is not a JSON object: write it as {{"clip name": "label"}}.')
        return {str(k): str(v) for k, v in labels.items()}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not {"clip", "label"} <= set(reader.fieldnames or ()):
            raise VideoAttrError(f"Label file {path} lacks a clip or label column: give it the header 'clip,label'.")
        return {row["clip"]: row["label"] for row in reader}


def select_clips(paths: list[Path], names: list[str] | None) -> list[Path]:
    """The clips of ``paths`` named in ``names``, in that order (None: all of them)."""
    if names is None:
        return paths
    by_name = {name_of(path): path for path in paths}
    missing = [str(name) for name in names if str(name) not in by_name]
    if missing:
        raise VideoAttrError(
            f"Clip(s) {', '.join(missing)} not found in the dataset: use names of its clips (without extension), "
            f"e.g. {', '.join(list(by_name)[:3])}."
        )
    return [by_name[str(name)] for name in names]


def mask_path(clip_path: Path) -> Path:
    """Where a clip's ground-truth mask lives: ``<video stem>.npz`` beside the video or frame folder."""
    return clip_path.parent / f"{name_of(clip_path)}.npz"


class VideoDataset(Dataset):
    """Clips of a folder, sampled and preprocessed for one model.

    Items are dicts: ``name`` str, ``path`` str, ``label`` str ("" if none), ``target`` int (-1 if
    unknown), ``clip`` 3 x T x H x W float32 normalised, ``frames`` T x H x W x 3 uint8 (resized and
    cropped), ``frame_indices`` T int64, and ``gt_mask`` T x H x W float32 when ``masks`` is true.
    Labels come from ``labels`` (clip name or file name -> label) or else from the clip names, and
    are looked up in ``classes`` (None: labels are class indices) and its ``aliases`` (alias -> class
    name); a label found nowhere is not an error here but one per clip, raised by ``check_label``.
    ``seed`` fixes 'random' sampling; ``clips`` keeps only the clips of these names (in this order);
    ``limit`` keeps the first clips (in name order, or in the order of ``clips``).
    ``windows`` (a stride in frames; None: off) cuts every video into windows of T consecutive frames
    (``videoattr.data.windows``), each an item named ``<video>@<start frame>``; ``limit`` then counts
    windows. A video that cannot be opened stays one item, which fails when loaded.
    ``shard`` of ``num_shards`` then keeps every ``num_shards``-th video of those, with all its windows
    (``videoattr.data.shards``), so that each video's timeline is written by one shard.
    """

    def __init__(
        self,
        root: str | Path,
        spec: ModelSpec,
        classes: list[str] | None = None,
        labels: dict[str, str] | None = None,
        aliases: dict[str, str] | None = None,
        sampling: str = "first",
        short_clips: str = "error",
        masks: bool = False,
        seed: int = 0,
        limit: int | None = None,
        clips: list[str] | None = None,
        windows: int | None = None,
        shard: int | None = None,
        num_shards: int = 1,
    ):
        self._reader: tuple[int, Path, object] | None = None  # (process id, path, reader)
        videos = select_clips(list_clips(root), clips)
        # One item per clip, or per window of a video: its path and first frame (None: sampled).
        items = [(p, start) for p in videos for start in self._starts(p, spec.num_frames, windows)][:limit]
        kept = set(shard_of(list(dict.fromkeys(p for p, _ in items)), shard, num_shards))
        items = [(p, start) for p, start in items if p in kept]
        self.paths = [p for p, _ in items]
        self.starts = [start for _, start in items]
        self.spec, self.class_names = spec, classes
        self.sampling, self.short_clips, self.masks, self.seed = sampling, short_clips, masks, seed
        labels = labels or {}
        # (label, class index) per clip; a label the class list lacks is kept with index -1 and its
        # error message in label_errors (None where the label resolved), raised by check_label.
        self.labels: list[tuple[str, int]] = []
        self.label_errors: list[str | None] = []
        for p in self.paths:
            label = labels.get(name_of(p), labels.get(p.name, label_from_name(name_of(p))))
            try:
                self.labels.append(resolve_label(label, classes, p.name, aliases))
                self.label_errors.append(None)
            except VideoAttrError as err:
                self.labels.append((str(label).strip(), -1))
                self.label_errors.append(str(err))
        missing = [mask_path(p) for p in dict.fromkeys(self.paths) if masks and not mask_path(p).is_file()]
        if missing:
            raise VideoAttrError(
                f"Mask file {missing[0]} is missing ({len(missing)} in all): add <clip name>.npz with key 'mask' "
                "beside each clip or set dataset.masks=false."
            )

    def _starts(self, path: Path, num_frames: int, stride: int | None) -> list[int | None]:
        """The first frames of a video's windows (``[None]``: one clip sampled from the whole video, as
        without ``windows``, or a video that cannot be opened, whose item then fails to load)."""
        if stride is None:
            return [None]
        try:
            # A reader of its own, closed here: a reader left open in this process would hang the DataLoader
            # workers forked from it (decord's decoding threads do not survive a fork).
            return window_starts(len(open_clip(path)), num_frames, stride)
        except VideoAttrError:
            return [None]

    def _open(self, path: Path):
        """The reader of ``path``. A DataLoader worker keeps it open for the next window of the same video; the
        main process keeps none, since a reader open there would break the workers forked from it (decord's
        decoding threads do not survive a fork)."""
        if get_worker_info() is None:
            return open_clip(path)
        if self._reader is None or self._reader[:2] != (os.getpid(), path):
            self._reader = (os.getpid(), path, open_clip(path))
        return self._reader[2]

    def __getstate__(self) -> dict:
        """Pickled (for a DataLoader's worker processes) without the open reader."""
        return {**self.__dict__, "_reader": None}

    def __len__(self) -> int:
        return len(self.paths)

    def clip_name(self, index: int) -> str:
        """The name of clip ``index`` (known without decoding it): ``<video>@<start>`` for a window."""
        start = self.starts[index]
        return name_of(self.paths[index]) if start is None else window_name(name_of(self.paths[index]), start)

    def check_label(self, index: int) -> None:
        """Raise the VideoAttrError of clip ``index``'s label when the class list lacks it (its item then
        has ``target`` -1, as an unlabelled clip's)."""
        if self.label_errors[index] is not None:
            raise VideoAttrError(self.label_errors[index])

    def __getitem__(self, index: int) -> dict:
        path, start = self.paths[index], self.starts[index]
        reader = self._open(path)
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0]))
        if start is None or len(reader) < self.spec.num_frames:
            indices = sample_indices(
                len(reader), self.spec.num_frames, self.sampling, self.short_clips, generator, clip=str(path)
            )
        else:
            indices = window_indices(start, self.spec.num_frames)
        clip, frames = preprocess(reader.read(indices), self.spec)
        label, target = self.labels[index]
        item = {
            "name": self.clip_name(index),
            "path": str(path),
            "label": label,
            "target": target,
            "clip": clip,
            "frames": frames,
            "frame_indices": indices,
        }
        if self.masks:
            item["gt_mask"] = self._mask(path, indices, len(reader))
        return item

    def _mask(self, path: Path, indices: torch.Tensor, length: int) -> torch.Tensor:
        """The clip's ground-truth mask at ``indices``, resized and cropped like its frames: T x H x W float32."""
        file = mask_path(path)
        with np.load(file) as data:
            if "mask" not in data:
                raise VideoAttrError(f"Mask file {file} has no 'mask' array: save it with np.savez(path, mask=...).")
            mask = data["mask"]
        if mask.ndim != 3 or mask.shape[0] != length:
            raise VideoAttrError(
                f"Mask file {file} has shape {mask.shape} but the clip has {length} frames: "
                "save one H x W mask per frame (L x H x W)."
            )
        sampled = torch.from_numpy(mask[indices.numpy()].astype(np.float32))
        return resize_crop_mask(sampled, self.spec.resize, self.spec.crop)


def build_dataset(dataset_cfg: DictConfig, spec: ModelSpec, seed: int = 0) -> VideoDataset:
    """The dataset of a ``conf/dataset/*.yaml`` config for a model described by ``spec``.

    ``classes: null`` uses the model's class names.
    """
    if OmegaConf.is_missing(dataset_cfg, "root"):
        raise VideoAttrError("dataset.root is not set: add dataset.root=/path/to/videos to the command line.")
    classes, aliases = spec.class_names, None
    if dataset_cfg.get("classes"):
        classes, aliases = (
            load_class_list(str(dataset_cfg.classes)),
            load_class_aliases(str(dataset_cfg.classes)),
        )
        if spec.class_names is not None and len(classes) != len(spec.class_names):
            raise VideoAttrError(
                f"Dataset class list {dataset_cfg.classes} has {len(classes)} classes but model {spec.name} has "
                f"{len(spec.class_names)}: set dataset.classes=null to use the model's classes."
            )
    label_file = dataset_cfg.get("label_file")
    return VideoDataset(
        root=dataset_cfg.root,
        spec=spec,
        classes=classes,
        labels=load_label_file(label_file) if label_file else None,
        aliases=aliases,
        sampling=dataset_cfg.get("sampling", "first"),
        short_clips=dataset_cfg.get("short_clips", "error"),
        masks=bool(dataset_cfg.get("masks", False)),
        seed=seed,
        limit=dataset_cfg.get("limit"),
        clips=dataset_cfg.get("clips"),
        shard=dataset_cfg.get("shard"),
        num_shards=dataset_cfg.get("num_shards", 1),
        windows=dataset_cfg.get("windows"),
    )

"""Clips in, model-ready items out: readers, sampling, transforms, datasets, the loader's worker processes."""

from videoattr.data.classes import load_class_list, resolve_label
from videoattr.data.datasets import VideoDataset, build_dataset
from videoattr.data.transforms import denormalize, normalize, preprocess

__all__ = [
    "VideoDataset",
    "build_dataset",
    "denormalize",
    "load_class_list",
    "normalize",
    "preprocess",
    "resolve_label",
]

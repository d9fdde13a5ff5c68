"""The dataset of a config as a Lightning data module (prediction only: explanations need no training)."""

from __future__ import annotations

import pytorch_lightning as pl
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from videoattr.data.datasets import VideoDataset, build_dataset
from videoattr.data.loader import workers_of
from videoattr.models.spec import ModelSpec


class VideoDataModule(pl.LightningDataModule):
    """Batches of ``VideoDataset`` items (default collate) for the model described by ``spec``.

    ``dataset_cfg`` is a ``conf/dataset/*.yaml`` config; its ``batch_size`` and ``num_workers`` (null:
    ``videoattr.data.loader.default_workers()``) shape the loader.
    """

    def __init__(self, dataset_cfg: DictConfig, spec: ModelSpec, seed: int = 0):
        super().__init__()
        self.dataset_cfg, self.spec, self.seed = dataset_cfg, spec, seed
        self.dataset: VideoDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is None:
            self.dataset = build_dataset(self.dataset_cfg, self.spec, self.seed)

    def predict_dataloader(self) -> DataLoader:
        self.setup("predict")
        return DataLoader(
            self.dataset,
            batch_size=int(self.dataset_cfg.get("batch_size", 1)),
            num_workers=workers_of(self.dataset_cfg.get("num_workers")),
            shuffle=False,
        )

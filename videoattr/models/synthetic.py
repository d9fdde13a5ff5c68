"""The small networks that solve the synthetic world (``videoattr.synthetic``): a 3D CNN, an MViT and a
ViT (a ViViT with a convolutional stem)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models.video import MViT
from torchvision.models.video.mvit import MSBlockConfig

from videoattr.errors import VideoAttrError
from videoattr.models.checkpoints import load_weights
from videoattr.models.hf import HFVideoClassifier, require_transformers


def _block(cin: int, cout: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU())


class SyntheticNet(nn.Module):
    """Four conv3d blocks, a global max pool and a linear classifier.

    Input N x 3 x 16 x 112 x 112 (normalised); ``layer4`` holds N x 32 x 8 x 14 x 14 activations
    (the Grad-CAM layer); output N x ``num_classes`` logits.
    """

    def __init__(self, num_classes: int = 4, width: int = 8):
        super().__init__()
        self.layer1 = _block(3, width, (1, 2, 2))
        self.layer2 = _block(width, 2 * width, (1, 2, 2))
        self.layer3 = _block(2 * width, 4 * width, (2, 2, 2))
        self.layer4 = _block(4 * width, 4 * width, (1, 1, 1))
        self.pool = nn.AdaptiveMaxPool3d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.pool(x).flatten(1))


def synthetic_mvit(num_classes: int = 4) -> MViT:
    """A two-block torchvision MViT (v1 style: absolute position embeddings, class token) for the world.

    Input N x 3 x 16 x 112 x 112 (normalised). The patch embedding (kernel 3 x 7 x 7, stride 2 x 4 x 4)
    gives 8 x 28 x 28 tokens of 24 channels; block 0 pools the queries to 8 x 14 x 14 and widens to
    48 channels (keys and values pooled to 8 x 7 x 7); block 1 keeps 8 x 14 x 14 tokens (keys and
    values 8 x 7 x 7). The class token's final state gives N x ``num_classes`` logits.
    """
    blocks = [
        MSBlockConfig(1, 24, 48, kernel_q=[3, 3, 3], kernel_kv=[3, 3, 3], stride_q=[1, 2, 2], stride_kv=[1, 4, 4]),
        MSBlockConfig(2, 48, 48, kernel_q=[3, 3, 3], kernel_kv=[3, 3, 3], stride_q=[1, 1, 1], stride_kv=[1, 2, 2]),
    ]
    return MViT(
        spatial_size=(112, 112),
        temporal_size=16,
        block_setting=blocks,
        residual_pool=False,
        residual_with_cls_embed=True,
        rel_pos_embed=False,
        proj_after_attn=False,
        dropout=0.0,
        num_classes=num_classes,
    )


# The ViT's attention logits are q . k times this, 4 x transformers' 1 / sqrt(head dim 16). In 200-step probes
# (train_synthetic's --arch vit training with its auxiliary stem head, lr 2e-3, written out as a loop) the loss
# of the class token's head stayed at chance (1.387) with 1 / 4 and fell to 1.01 by step 180 with 1.
VIT_ATTENTION_SCALE = 1.0


def synthetic_vit(num_classes: int = 4) -> HFVideoClassifier:
    """A four-layer ViViT (tubelet tokens and a class token, no hierarchy) with a convolutional stem.

    Input N x 3 x 16 x 112 x 112 (normalised). The tubelet embedding's single Conv3d is replaced by a stem
    of the same output (early convolutions, Xiao et al. 2021): Conv3d 3 -> 16 (kernel 3 x 7 x 7, stride
    1 x 4 x 4), Conv3d 16 -> 32 (kernel 3, stride 2), Conv3d 32 -> 64 (kernel = stride = 2), each followed
    by batch norm, the first two by GELU; so each of the 4 x 7 x 7 tokens of 64 channels stands for a
    tubelet of 4 x 16 x 16 pixels, as the config's tubelet_size says. A class token and learnt position
    embeddings; four pre-norm blocks of 4 heads attend over all tokens, their attention logits q . k taken
    unscaled (``VIT_ATTENTION_SCALE``, not 1 / sqrt(16)); the class token's final state gives
    N x ``num_classes`` logits.
    """
    transformers = require_transformers()
    config = transformers.VivitConfig(
        image_size=112,
        num_frames=16,
        tubelet_size=[4, 16, 16],
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=128,
        hidden_act="gelu",
        num_labels=num_classes,
    )
    model = transformers.VivitForVideoClassification(config)
    model.vivit.embeddings.patch_embeddings.projection = nn.Sequential(
        nn.Conv3d(3, 16, (3, 7, 7), (1, 4, 4), (1, 3, 3), bias=False),
        nn.BatchNorm3d(16),
        nn.GELU(),
        nn.Conv3d(16, 32, 3, 2, 1, bias=False),
        nn.BatchNorm3d(32),
        nn.GELU(),
        nn.Conv3d(32, config.hidden_size, 2, 2, bias=False),
        nn.BatchNorm3d(config.hidden_size),
    )
    for layer in model.vivit.layers:
        layer.attention.scaling = VIT_ATTENTION_SCALE
    return HFVideoClassifier(model)


def _fill(net: nn.Module, checkpoint: str | None, name: str, script: str) -> nn.Module:
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise VideoAttrError(
                f"Synthetic checkpoint {checkpoint} does not exist: run {script} or fix model.checkpoint."
            )
        load_weights(net, None, checkpoint, name=name)
    return net


def build(checkpoint: str | None = None, num_classes: int = 4) -> SyntheticNet:
    """The network, with the weights of ``checkpoint`` (a file written by builders/train_synthetic.py)."""
    return _fill(SyntheticNet(num_classes), checkpoint, "synthetic", "builders/train_synthetic.py")


def build_mvit(checkpoint: str | None = None, num_classes: int = 4) -> MViT:
    """The MViT, with the weights of ``checkpoint`` (written by builders/train_synthetic.py --arch mvit)."""
    return _fill(synthetic_mvit(num_classes), checkpoint, "synthetic_mvit", "builders/train_synthetic.py --arch mvit")


def build_vit(checkpoint: str | None = None, num_classes: int = 4) -> HFVideoClassifier:
    """The ViT, with the weights of ``checkpoint`` (written by builders/train_synthetic.py --arch vit)."""
    return _fill(synthetic_vit(num_classes), checkpoint, "synthetic_vit", "builders/train_synthetic.py --arch vit")

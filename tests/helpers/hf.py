"""Tiny Hugging Face video classifiers of every architecture transformers 5 exports, built from configs
(no download): 4 frames of 32 x 32, 8 x 8 patches, hidden size 32, a few seconds to train on a CPU."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers

ARCHS = ("videomae", "timesformer", "vivit", "vjepa2", "videoprism")
FRAMES, SIZE, PATCH = 4, 32, 8
# Frames per token: the tubelet of each architecture is TUBELET[arch] x PATCH x PATCH pixels.
TUBELET = {"videomae": 2, "timesformer": 1, "vivit": 2, "vjepa2": 2, "videoprism": 1}
_SMALL = {"hidden_size": 32, "num_attention_heads": 2}


def tiny_config(arch: str, labels: list[str], layers: int = 2) -> transformers.PretrainedConfig:
    """The config of a tiny ``arch`` classifier of ``labels`` with ``layers`` transformer blocks (VideoPrism:
    ``layers`` spatial and ``layers`` temporal ones)."""
    id2label = dict(enumerate(labels))
    common = {**_SMALL, "id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}
    t = TUBELET[arch]
    if arch == "videomae":
        return transformers.VideoMAEConfig(
            image_size=SIZE, patch_size=PATCH, num_frames=FRAMES, tubelet_size=t, num_hidden_layers=layers,
            intermediate_size=64, **common,
        )  # fmt: skip
    if arch == "timesformer":
        return transformers.TimesformerConfig(
            image_size=SIZE,
            patch_size=PATCH,
            num_frames=FRAMES,
            num_hidden_layers=layers,
            intermediate_size=64,
            **common,
        )
    if arch == "vivit":
        return transformers.VivitConfig(
            image_size=SIZE, tubelet_size=[t, PATCH, PATCH], num_frames=FRAMES, num_hidden_layers=layers,
            intermediate_size=64, **common,
        )  # fmt: skip
    if arch == "vjepa2":
        return transformers.VJEPA2Config(
            crop_size=SIZE, patch_size=PATCH, frames_per_clip=FRAMES, tubelet_size=t, num_hidden_layers=layers, mlp_ratio=2,
            pred_hidden_size=32, pred_num_hidden_layers=1, pred_num_attention_heads=2, num_pooler_layers=1, **common,
        )  # fmt: skip
    return transformers.VideoPrismVisionConfig(
        image_size=SIZE, tubelet_size=[t, PATCH, PATCH], num_frames=FRAMES, num_spatial_layers=layers,
        num_temporal_layers=layers, intermediate_size=64, **common,
    )  # fmt: skip


def tiny_hf(arch: str, labels: list[str], seed: int = 0, layers: int = 2) -> transformers.PreTrainedModel:
    """A randomly initialised tiny ``arch`` classifier of ``labels``, in eval mode."""
    torch.manual_seed(seed)
    return transformers.AutoModelForVideoClassification.from_config(tiny_config(arch, labels, layers)).eval()


def tiny_processor(arch: str):
    """The processor each architecture ships with, resizing frames' shortest edge to 36 (bilinear) and
    centre cropping 32 x 32 (VideoPrism's: resizing to 32 x 32)."""
    size = {"size": {"shortest_edge": 36}, "crop_size": {"height": SIZE, "width": SIZE}}
    return {
        "videomae": lambda: transformers.VideoMAEImageProcessor(**size),
        "timesformer": lambda: transformers.TimesformerVideoProcessor(**size),
        "vivit": lambda: transformers.VivitImageProcessor(**size),
        "vjepa2": lambda: transformers.VJEPA2VideoProcessor(**size),
        "videoprism": lambda: transformers.LlavaOnevisionVideoProcessor(
            size={"height": SIZE, "width": SIZE}, resample=2
        ),
    }[arch]()


def save_folder(model: transformers.PreTrainedModel, arch: str, folder: Path) -> Path:
    """``folder`` with the model's config.json and model.safetensors and its processor's config."""
    model.save_pretrained(folder)
    tiny_processor(arch).save_pretrained(folder)
    return folder


def evidence_clips(arch: str, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(clips N x 3 x T x H x W, labels N, tubelets N x 3): noise, and for label 1 a bright block filling
    the tubelet (t', h', w') of the token grid; label 0 clips have none."""
    t = TUBELET[arch]
    clips = 0.5 * torch.randn(n, 3, FRAMES, SIZE, SIZE, generator=generator)
    labels = torch.randint(0, 2, (n,), generator=generator)
    grid = torch.tensor([FRAMES // t, SIZE // PATCH, SIZE // PATCH])
    tubelets = (torch.rand(n, 3, generator=generator) * grid).long()
    for clip, label, (i, j, k) in zip(clips, labels, tubelets.tolist(), strict=True):
        if label:
            clip[:, i * t : (i + 1) * t, j * PATCH : (j + 1) * PATCH, k * PATCH : (k + 1) * PATCH] += 2.5
    return clips, labels, tubelets


def trained_hf(arch: str, layers: int, steps: int = 80, seed: int = 0) -> transformers.PreTrainedModel:
    """A tiny ``arch`` classifier trained to tell clips with a bright tubelet anywhere (label 1) from noise."""
    model = tiny_hf(arch, ["noise", "evidence"], seed, layers).train()
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    key = model.main_input_name
    for _ in range(steps):
        clips, labels, _ = evidence_clips(arch, 16, generator)
        loss = torch.nn.functional.cross_entropy(model(**{key: clips.transpose(1, 2)}).logits.flatten(1), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()

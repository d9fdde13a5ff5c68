"""What a model expects of its input and what its outputs mean."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    """Preprocessing and metadata of a video classifier.

    Clips given to the model are N x 3 x ``num_frames`` x crop[0] x crop[1], float32, normalised
    with ``mean``/``std`` per channel. Frames are first resized to ``resize`` = (H, W), then centre
    cropped to ``crop`` = (H, W).
    """

    name: str
    num_frames: int
    resize: tuple[int, int]
    crop: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    gradcam_layer: str | None = None
    class_names: list[str] | None = field(default=None, compare=False)

    @property
    def num_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)

"""The synthetic ground-truth world: clips whose class lives in a known spatio-temporal region."""

from videoattr.synthetic.export import save_clip, write_video
from videoattr.synthetic.generator import (
    CLASSES,
    MEAN,
    STD,
    SyntheticClips,
    World,
    normalise,
    render_clip,
)

__all__ = ["CLASSES", "MEAN", "STD", "SyntheticClips", "World", "normalise", "render_clip", "save_clip", "write_video"]

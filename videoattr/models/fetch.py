"""Download a model's public checkpoint into torch hub's cache and verify its SHA-256.

    videoattr-fetch-weights r2plus1d          # a conf/model/<name>.yaml ...
    videoattr-fetch-weights i3d_kinetics400   # ... or a model.weights value

The file goes to ``$TORCH_HOME/hub/checkpoints/`` (``torch.hub.get_dir()/checkpoints``), where the model
configs look for it. Known sums: torchvision files carry the first 8 hex digits of their SHA-256 in their
name (checked); the full sums of the I3D and TSM files are not published, so for them the script prints
the sum for you to compare with a trusted copy. A file already in the cache is verified, not downloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from omegaconf import OmegaConf

from videoattr.errors import VideoAttrError
from videoattr.models.checkpoints import PublicWeights, fetch, is_none, public_weights

# conf/ sits beside the package in the repository (videoattr is installed in editable mode).
MODEL_CONFIGS = Path(__file__).resolve().parents[2] / "conf" / "model"


def weights_of(model: str) -> PublicWeights:
    """The public checkpoint of model config ``model``, or of the weights called ``model``."""
    config = MODEL_CONFIGS / f"{model}.yaml"
    if not config.is_file():
        return public_weights(model)
    weights = OmegaConf.load(config).get("weights")
    if is_none(weights):
        raise VideoAttrError(
            f"Model config {model} has no public weights: pass a model with a weights key, e.g. r2plus1d."
        )
    return public_weights(str(weights))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a conf/model name (r2plus1d, i3d, tsm_epic_noun, ...) or a model.weights value")
    args = parser.parse_args()
    try:
        weights = weights_of(args.model)
        path = fetch(weights)
    except VideoAttrError as err:
        print(err, file=sys.stderr)
        return 2
    digest = sha256(path)
    expected = weights.hash_prefix
    if expected and not digest.startswith(expected):
        print(
            f"{path} has SHA-256 {digest}, not {expected}...: delete it and download it again.",
            file=sys.stderr,
        )
        return 1
    status = f"matches the published prefix {expected}" if expected else "no published sum to check"
    print(f"{path}\nSHA-256 {digest} ({status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

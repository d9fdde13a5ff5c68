"""Class lists: JSON lists, EPIC-Kitchens CSVs, plain text, or a torchvision weights enum."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from videoattr.errors import VideoAttrError


def load_class_list(source: str) -> list[str]:
    """Read class names in index order.

    ``source`` is a ``.json`` list, a ``.csv`` with a ``class_key`` (EPIC-Kitchens) or ``name``
    column ordered by its id column, a ``.txt`` with one name a line, or
    ``torchvision:<WeightsEnum>.<MEMBER>`` for the categories of torchvision weights.
    """
    if source.startswith("torchvision:"):
        return _torchvision_categories(source.removeprefix("torchvision:"))
    path = Path(source)
    if not path.is_file():
        raise VideoAttrError(f"Class list {path} does not exist: check dataset.classes / model.classes.")
    if path.suffix == ".json":
        names = json.loads(path.read_text())
        if isinstance(names, dict):
            names = [name for name, _ in sorted(names.items(), key=lambda kv: int(kv[1]))]
    elif path.suffix == ".csv":
        names = _csv_names(path)
    else:
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names or not all(isinstance(n, str) for n in names):
        raise VideoAttrError(f"Class list {path} holds no class names: give a JSON list of strings, a CSV with a class_key column, or one name per line.")
    return names


def _csv_names(path: Path) -> list[str]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return []
    name_col = next((c for c in ("class_key", "name", "label") if c in rows[0]), None)
    if name_col is None:
        raise VideoAttrError(f"Class list {path} has no class_key, name or label column: add one.")
    id_col = next((c for c in rows[0] if c.endswith("_id") or c == "id"), None)
    if id_col is not None:
        rows.sort(key=lambda r: int(r[id_col]))
    return [r[name_col] for r in rows]


def _torchvision_categories(spec: str) -> list[str]:
    from torchvision import models

    enum_name, _, member = spec.partition(".")
    enum = getattr(models.video, enum_name, None) or getattr(models, enum_name, None)
    if enum is None or not hasattr(enum, member):
        raise VideoAttrError(f"Unknown torchvision weights '{spec}': use e.g. R2Plus1D_18_Weights.KINETICS400_V1.")
    return list(getattr(enum, member).meta["categories"])

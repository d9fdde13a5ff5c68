"""Class lists (JSON lists, EPIC-Kitchens CSVs, plain text, torchvision weights enums) and label lookup."""

from __future__ import annotations

import ast
import csv
import difflib
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
        raise VideoAttrError(
            f"Class list {path} holds no class names: give a JSON list of strings, a CSV with a class_key column, or one name per line."
        )
    return names


def _csv_names(path: Path) -> list[str]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return []
    name_col = _name_column(rows[0])
    if name_col is None:
        raise VideoAttrError(f"Class list {path} has no class_key, name or label column: add one.")
    id_col = next((c for c in rows[0] if c.endswith("_id") or c == "id"), None)
    if id_col is not None:
        rows.sort(key=lambda r: int(r[id_col]))
    return [r[name_col] for r in rows]


def _name_column(row: dict) -> str | None:
    return next((c for c in ("class_key", "name", "label") if c in row), None)


def _torchvision_categories(spec: str) -> list[str]:
    from torchvision import models

    enum_name, _, member = spec.partition(".")
    enum = getattr(models.video, enum_name, None) or getattr(models, enum_name, None)
    if enum is None or not hasattr(enum, member):
        raise VideoAttrError(
            f"Unknown torchvision weights '{spec}': use a weights enum member such as torchvision:R2Plus1D_18_Weights.KINETICS400_V1."
        )
    return list(getattr(enum, member).meta["categories"])


def load_class_aliases(source: str) -> dict[str, str]:
    """Other names of each class: alias -> class name.

    Only EPIC-Kitchens CSVs have them (a ``verbs`` / ``nouns`` column of Python-style lists, e.g.
    ``stir`` -> ``mix``); other sources give {}.
    """
    path = Path(source)
    if path.suffix != ".csv" or not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    name_col = _name_column(rows[0])
    alias_col = next((c for c in ("verbs", "nouns", "aliases") if c in rows[0]), None)
    if name_col is None or alias_col is None:
        return {}
    aliases: dict[str, str] = {}
    for row in rows:
        for alias in ast.literal_eval(row[alias_col]):
            aliases.setdefault(alias, row[name_col])
    return aliases


def resolve_label(
    label: str, classes: list[str] | None, clip: str = "clip", aliases: dict[str, str] | None = None
) -> tuple[str, int]:
    """Map a clip's label to (class name, class index); ("", -1) for an empty label.

    With a class list the label is a class name, matched exactly, then ignoring case and '_' versus
    ' ' (``playing_guitar`` -> ``playing guitar``), then through ``aliases`` (alias -> class name),
    or a class index. Without one it must be an index. ``clip`` names the clip in error messages.
    """
    label = str(label).strip()
    if not label:
        return "", -1
    if classes is None:
        if not label.isdigit():
            raise VideoAttrError(
                f"Clip {clip} has label '{label}' but no class list is known: set dataset.classes or model.classes, "
                "or label the clips with class indices."
            )
        return label, int(label)
    if label in classes:
        return label, classes.index(label)
    if label.isdigit() and int(label) < len(classes):
        return classes[int(label)], int(label)
    loose = {_loose(name): i for i, name in reversed(list(enumerate(classes)))}
    if _loose(label) in loose:
        i = loose[_loose(label)]
        return classes[i], i
    if aliases and aliases.get(label) in classes:
        return aliases[label], classes.index(aliases[label])
    close = difflib.get_close_matches(label, classes, n=3, cutoff=0.5)
    hint = f"close class names are {', '.join(repr(c) for c in close)}" if close else "no class name is close"
    raise VideoAttrError(
        f"Clip {clip} has label '{label}', which is not in the class list ({hint}): rename the clip "
        "'<class>-<anything>', give its label in dataset.label_file or explain it with target=predicted."
    )


def _loose(name: str) -> str:
    return name.lower().replace("_", " ")

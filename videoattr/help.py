"""``python run.py --help``: the config groups, their choices and the top-level keys, read from
``conf/`` directly (Hydra's own help composes every group's options, seconds of work)."""

from __future__ import annotations

import re
from pathlib import Path

# Groups that are not choices of a run (schemas live in the ConfigStore, hydra/ is Hydra's own).
_NOT_GROUPS = {"hydra"}
_DEFAULT = re.compile(r"^\s*-\s*(?:optional\s+)?([\w/]+)\s*:\s*(\w+)")
_KEY = re.compile(r"^(\w+):\s*(.*)$")


def defaults_of(config: str) -> dict[str, str]:
    """Group -> default choice, from the ``defaults`` list of ``conf/config.yaml``'s text."""
    found = {}
    for line in config.split("\ndefaults:", 1)[-1].splitlines()[1:]:
        if line and not line.startswith((" ", "-", "#")):
            break
        match = _DEFAULT.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def top_level_keys(config: str) -> list[tuple[str, str, str]]:
    """(key, default, the comment above it) for each top-level key of ``config.yaml``'s text, up to
    ``hydra:``."""
    keys, comment = [], []
    for line in config.splitlines():
        if line.startswith("#"):
            comment.append(line.lstrip("# ").rstrip())
            continue
        match = _KEY.match(line)
        if match and match.group(1) not in ("defaults", "hydra"):
            keys.append((match.group(1), match.group(2), " ".join(comment)))
        if line.startswith("hydra:"):
            break
        comment = []
    return keys


def help_text(conf: Path) -> str:
    config = (conf / "config.yaml").read_text()
    defaults = defaults_of(config)
    lines = [
        "videoattr: explain a video classifier's predictions (which pixels, in which frames).",
        "",
        "  python run.py [GROUP=CHOICE ...] [KEY=VALUE ...]   one run, e.g. python run.py model=r3d method=grad_cam",
        "  python run.py -m KEY=A,B [GROUP=C,D ...]           a sweep: one job per combination",
        "",
        "Config groups (conf/GROUP/CHOICE.yaml; * marks the default):",
    ]
    groups = sorted(p for p in conf.iterdir() if p.is_dir() and p.name not in _NOT_GROUPS)
    width = max(len(p.name) for p in groups) + 2
    for group in groups:
        choices = sorted(f.stem for f in group.glob("*.yaml"))
        marked = [c + ("*" if defaults.get(group.name) == c else "") for c in choices]
        lines.append(f"  {group.name:<{width}}{', '.join(marked)}")
    lines += ["", "Keys (any key of a group too, e.g. method.iterations=300 or dataset.root=/data/clips):"]
    for key, default, comment in top_level_keys(config):
        lines.append((f"  {key}={default}".ljust(22) + f"  {comment}").rstrip())
    lines += [
        "",
        "  python run.py [GROUP=CHOICE ...] --cfg job   print the composed config",
        "  python run.py --hydra-help                   Hydra's own options (launchers, sweepers, logging)",
        "  README.md and docs/                          the methods, outputs, benchmark and cluster use",
    ]
    return "\n".join(lines) + "\n"

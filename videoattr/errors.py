"""User-facing errors.

Every problem a user can cause (a missing path, a bad area, an unknown class, ...) is raised as a
``VideoAttrError`` whose message is ONE sentence that names the problem and says how to fix it.
``run.py`` prints that sentence as the last line of stderr and exits with status 2.
"""

import errno
import re
from dataclasses import dataclass


class VideoAttrError(Exception):
    """A problem with the user's input; ``str(err)`` is one sentence: the problem and the fix."""


def show(value) -> str:
    """``value`` as it is written in a command-line override (null, [0.05,0.1], 0.5, abc)."""
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(show(v) for v in value) + "]"
    return str(value)


class ConfigValueError(VideoAttrError):
    """A setting outside its range: ``key`` (dotted), the value given and what the key accepts."""

    def __init__(self, key: str, value, accepted: str):
        self.key, self.value, self.accepted = key, value, accepted
        super().__init__(f"Invalid {key}={show(value)}: {accepted}.")

    def under(self, prefix: str) -> "ConfigValueError":
        """The same error with ``key`` named from the config's root, e.g. ``method.iterations``."""
        return ConfigValueError(f"{prefix}.{self.key}" if prefix else self.key, self.value, self.accepted)


def require(ok: bool, key: str, value, accepted: str) -> None:
    """Raise ``ConfigValueError(key, value, accepted)`` unless ``ok``."""
    if not ok:
        raise ConfigValueError(key, value, accepted)


def one_line(err: BaseException, limit: int = 200) -> str:
    """The first line of ``err``'s message (or its type) without a final period, at most ``limit`` characters."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0].strip().rstrip(".")
    text = re.sub(r"\.\s+(?=[A-Z])", "; ", text)  # one sentence
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RankFailed(Exception):
    """A process of a multi-process (DDP) run stopped with an error; ``run.py`` prints this one line
    (the process's own error is above it) and exits with status 1."""


class OutputError(VideoAttrError):
    """The run directory cannot take a result file (a file in its place, no permission, a full disk):
    the run stops, whatever ``fail_fast`` says."""


# What one clip's data or the model's computation on it raises; recorded for that clip. Anything else
# (TypeError, AttributeError, KeyError, IndexError, AssertionError, NameError, ImportError,
# NotImplementedError, ...) is a bug, in videoattr or in the model's code, and stops the run.
CLIP_ERRORS: tuple[type[BaseException], ...] = (VideoAttrError, RuntimeError, OSError, ValueError, EOFError)
# Errors of a broken process group or device: the next clips would fail the same way.
_RUN_ERRORS = ("NotImplementedError", "DistError", "AcceleratorError")
# Full disk, quota exceeded, read-only file system: no later clip can be written either.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def is_clip_error(err: BaseException) -> bool:
    """Whether ``err`` is a failure of one clip (recorded in errors.csv, the run goes on) rather than a
    bug or a failure of the run itself (raised). Decoder errors (decord's, zip files) count as the clip's."""
    if isinstance(err, OutputError) or any(cls.__name__ in _RUN_ERRORS for cls in type(err).__mro__):
        return False
    if isinstance(err, OSError) and err.errno in _NO_SPACE:
        return False
    module = type(err).__module__
    return isinstance(err, CLIP_ERRORS) or module.startswith("decord") or type(err).__name__ == "BadZipFile"


def reason(err: BaseException) -> str:
    """The one line that errors.csv keeps for a failed clip: a ``VideoAttrError``'s sentence, otherwise
    the exception's type and the first line of its message."""
    if isinstance(err, VideoAttrError):
        return str(err)
    return f"{type(err).__name__}: {one_line(err)}"


@dataclass
class Failure:
    """Why a clip failed: the ``stage`` (label, load, model, target, explain, metrics), the one-line
    ``reason`` and, on the rank (or in the process) that saw it, the exception."""

    stage: str
    reason: str
    error: BaseException | None = None

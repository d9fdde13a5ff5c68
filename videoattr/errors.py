"""User-facing errors.

Every problem a user can cause (a missing path, a bad area, an unknown class, ...) is raised as a
``VideoAttrError`` whose message is ONE sentence that names the problem and says how to fix it.
``run.py`` prints that sentence as the last line of stderr and exits with status 2.
"""

import re


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

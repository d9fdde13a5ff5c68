"""What a run prints: by default only what matters to its user, everything with ``verbose=true``.

Quiet (the default) hides what the libraries print on every run: Lightning's info lines (device
banners, "Tip: ... litlogger", "Initializing distributed", "`Trainer.fit` stopped"), torch's warning
that no CUDA runtime is found (CUDA_HOME), and what decord and its FFmpeg print from C++ for a file
they cannot read ("ERROR opening ...", "moov atom not found"); the reason of such a file becomes part
of our own one line for the clip (``clip ... failed: ... could not be decoded (moov atom not found; ...)``).
Warnings, errors and the progress bar stay. ``verbose=true`` on the command line, or the environment
variable ``VIDEOATTR_VERBOSE=1``, shows everything, tracebacks of failed clips included.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "VIDEOATTR_VERBOSE"
# Loggers whose INFO lines a run does not need, and the level they get when quiet (the profilers' stays INFO).
_QUIET_LOGGERS = {
    "pytorch_lightning": logging.WARNING,
    "lightning_fabric": logging.WARNING,
    "lightning": logging.WARNING,
    "torch.utils.cpp_extension": logging.ERROR,
    "pytorch_lightning.profilers": logging.INFO,  # a profiler's report, when trainer.profiler asks for one
}
# A line of decord's C++ log ("[18:54:28] .../video_reader.cc:83: ERROR opening: ...") or of FFmpeg's
# ("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55fe64f6a880] moov atom not found").
_DECODER_LINE = re.compile(r"^\[(\d\d:\d\d:\d\d\] \S+\.(cc|h):\d+: |[^\]]* @ 0x[0-9a-f]+\] )")
_lock = threading.Lock()


def is_verbose() -> bool:
    """Whether this process shows everything (``VIDEOATTR_VERBOSE`` set to 1 / true / yes)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def set_verbose(verbose: bool) -> None:
    """Quiet or verbose from now on, for this process and the ones it starts (DataLoader workers,
    the ranks of a DDP run): the environment carries the choice."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    quiet = not is_verbose()
    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level if quiet else logging.NOTSET)
    # A log file that cannot be written (a full disk) is reported by the write that fails next, once.
    logging.raiseExceptions = not quiet


@contextmanager
def decoder_messages() -> Iterator[list[str]]:
    """Collect what C code prints on stderr (file descriptor 2) inside the block: the decoder lines are
    kept in the yielded list (for the error message of the clip), any other line is written to stderr
    afterwards. With verbose on, nothing is collected.

    File descriptor 2 belongs to the whole process: the blocks of all threads take turns (a lock), and a
    line another thread writes meanwhile is passed on, not lost. DataLoader workers are processes of
    their own, with their own descriptors."""
    lines: list[str] = []
    if is_verbose():
        yield lines
        return
    with _lock, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            try:
                yield lines
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        sink.seek(0)
        other = []
        for line in sink.read().decode(errors="replace").splitlines():
            (lines if _DECODER_LINE.match(line) else other).append(line)
        if other:
            sys.stderr.write("\n".join(other) + "\n")


def decoder_reason(lines: list[str], path: str) -> str:
    """What decoder ``lines`` say went wrong, in a few words: FFmpeg's messages and decord's reason
    (the part after the file name), without repeats; empty if they say nothing."""
    reasons: list[str] = []
    for line in lines:
        text = _DECODER_LINE.sub("", line).strip()
        text = re.sub(r"^ERROR \w+: ", "", text)
        text = text.replace(f"{path}, ", "").replace(path, "").strip(" ,.")
        if text and text not in reasons:
            reasons.append(text)
    return "; ".join(reasons)


def clip_progress(total: int, done: int, show: bool):
    """The run's progress bar: clips done (``done`` of them before this run) of the ``total`` of the job,
    and the time left at this run's pace; drawn when ``show`` and stderr is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="clip", desc="clips", disable=not (show and sys.stderr.isatty()))

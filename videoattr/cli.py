"""Turn user mistakes into one sentence on stderr and exit status 2, and interrupts into a clean stop,
for ``run.py``."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf.errors import OmegaConfBaseException

from videoattr.errors import VideoAttrError
from videoattr.help import help_text
from videoattr.schema import describe

EXIT_USER_ERROR = 2
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# (signal number, message) of each SIGINT / SIGTERM this process received during run_cli.
_received: list[tuple[int, str]] = []
# The VideoAttrError that ended a single run, reported by run_cli.
_failed: list[VideoAttrError] = []


# What a user's input or configuration can raise: reported as one line, exit status 2.
USER_ERRORS = (VideoAttrError, HydraException, OmegaConfBaseException)


def user_error_message(err: Exception) -> str:
    """The one sentence ``run.py`` prints (after ``error: ``) for one of ``USER_ERRORS``."""
    return str(err) if isinstance(err, VideoAttrError) else describe_config_error(err)


def describe_config_error(err: Exception) -> str:
    """One sentence for a Hydra/OmegaConf composition error (unknown group option, wrong type, bad key)."""
    text = str(err)
    missing = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if missing:
        group, name = missing.groups()
        options = re.findall(r"^\t(\S+)$", text, flags=re.MULTILINE)
        return f"Unknown {group} '{name}': choose one of {', '.join(options)} (files in conf/{group}/)."
    return describe(err)


@contextmanager
def user_errors_reported():
    """Around the job of a ``@hydra.main`` function: a ``VideoAttrError`` removes the job's directory if
    it holds nothing but Hydra's own files (a run that never started); in a single run the error is
    kept for ``run_cli`` to report as the only line on stderr (Hydra would first write its own "Error
    executing job" line), in a sweep it is raised, so that the launcher marks the job failed."""
    try:
        yield
    except VideoAttrError as err:
        remove_if_empty(Path(HydraConfig.get().runtime.output_dir))
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        _failed.append(err)


def remove_if_empty(run_dir: Path) -> None:
    """Remove a run directory that holds nothing but Hydra's own files."""
    own = {".hydra", f"{HydraConfig.get().job.name}.log"}
    if run_dir.is_dir() and all(p.name in own for p in run_dir.iterdir()):
        shutil.rmtree(run_dir)


def describe_interrupt(signum: int) -> str:
    """One sentence for a run stopped by ``signum``: where its finished clips are and how to resume."""
    name = signal.Signals(signum).name
    if not HydraConfig.initialized():
        return f"Interrupted by {name} outside a run: run the command again."
    hydra = HydraConfig.get()
    folder, key = hydra.runtime.output_dir, "hydra.run.dir"
    if hydra.mode == RunMode.MULTIRUN:
        folder, key = folder.removesuffix(str(hydra.sweep.subdir)).rstrip(os.sep), "hydra.sweep.dir"
    return f"Interrupted by {name}: the clips finished so far are saved in {folder}; rerun the same command with {key}={folder} to resume."


def interrupt(signum: int, _frame) -> None:
    """The SIGINT / SIGTERM handler of ``run_cli``: remember the signal and raise ``KeyboardInterrupt``."""
    _received.append((signum, describe_interrupt(signum)))  # now, while Hydra knows the run directory
    raise KeyboardInterrupt


def _raise_again(_signum: int, _frame) -> None:
    raise KeyboardInterrupt


def _keep_interrupts(unraisable) -> None:
    """``sys.unraisablehook``: Python drops an exception raised inside a finalizer (a ``__del__``, a weakref
    callback), so a ``KeyboardInterrupt`` of ``interrupt`` that lands there is raised again 10 ms later,
    from the code that the finalizer interrupted."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt) and _received:
        signal.signal(signal.SIGALRM, _raise_again)
        signal.setitimer(signal.ITIMER_REAL, 0.01)
    else:
        sys.__unraisablehook__(unraisable)


def run_cli(main: Callable[[], None]) -> None:
    """Call a ``@hydra.main`` function; user errors end in one stderr line and exit status 2.

    SIGINT and SIGTERM both raise ``KeyboardInterrupt``, so that partly written files are removed on
    the way out; the run then ends with one stderr line and status 128 + the signal number. Lightning
    turns a ``KeyboardInterrupt`` inside a fit into ``SystemExit(1)``, which is reported the same way.
    """
    if {"--help", "-h"} & set(sys.argv[1:]):
        sys.stdout.write(help_text(Path(sys.argv[0]).resolve().parent / "conf"))
        return
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    for signum in INTERRUPT_SIGNALS:
        signal.signal(signum, interrupt)
    sys.unraisablehook = _keep_interrupts
    try:
        main()
        if _failed:
            raise _failed[0]
    except USER_ERRORS as err:
        message, status = user_error_message(err), EXIT_USER_ERROR
    except (KeyboardInterrupt, SystemExit) as err:
        if isinstance(err, SystemExit) and not _received:
            raise
        signum, message = _received[0] if _received else (signal.SIGINT, describe_interrupt(signal.SIGINT))
        status = 128 + signum
    else:
        return
    sys.stderr.write(f"error: {message}\n")
    sys.exit(status)


def directory_command(description: str, work: Callable[[Path], Path], done: str) -> None:
    """The body of a command that takes one directory (``videoattr-report DIR``): ``work(DIR)``, then
    ``done`` with ``{path}`` (what it returned) and ``{directory}`` filled in; a ``VideoAttrError`` is
    one stderr line and exit status 2."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("directory", type=Path, help="a run or sweep directory, e.g. outputs/runs/<run>")
    args = parser.parse_args()
    try:
        path = work(args.directory)
    except VideoAttrError as err:
        sys.stderr.write(f"error: {err}\n")
        sys.exit(EXIT_USER_ERROR)
    print(done.format(path=path, directory=args.directory))

"""Turn user mistakes into one sentence on stderr and exit status 2, and interrupts into a clean stop,
for ``run.py``.

A run directory that cannot be created or written (a file in its place, no permission, a full disk)
is a user error too: Hydra creates it, its log file and ``.hydra`` before the job starts, and what
fails there is reported here in one line, naming ``hydra.run.dir`` (``hydra.sweep.dir`` for -m).
The processes of a multi-process run that ``videoattr.distributed`` starts (ranks > 0) leave the
reporting to rank 0: after they joined the run they stop silently."""

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

from videoattr.errors import RankFailed, VideoAttrError
from videoattr.help import help_text
from videoattr.schema import describe

EXIT_USER_ERROR = 2
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# (signal number, message) of each SIGINT / SIGTERM this process received during run_cli.
_received: list[tuple[int, str]] = []
# The VideoAttrError that ended a single run, reported by run_cli.
_failed: list[VideoAttrError] = []
# The sweep directory (None for a single run) of each job whose own code ran (Hydra has created its
# directory, log file and .hydra by then); Hydra forgets its config once a job ends.
_started: list[str | None] = []
# The command that runs this program again (python run.py), for the ranks of a DDP run; None when
# run_cli is not the entry point (a launcher's worker process).
SCRIPT: list[str] | None = None


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
    hydra = HydraConfig.get()
    _started.append(str(Path(hydra.sweep.dir).absolute()) if hydra.mode == RunMode.MULTIRUN else None)
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


def run_folder() -> tuple[str, str]:
    """The folder of this run and the key that names it: (run directory, ``hydra.run.dir``), or for a
    sweep (sweep directory, ``hydra.sweep.dir``)."""
    hydra = HydraConfig.get()
    folder, key = hydra.runtime.output_dir, "hydra.run.dir"
    if hydra.mode == RunMode.MULTIRUN:
        folder, key = folder.removesuffix(str(hydra.sweep.subdir)).rstrip(os.sep), "hydra.sweep.dir"
    return folder, key


def resume_hint() -> str:
    """How to resume this run: ``rerun the same command with hydra.run.dir=<dir> to resume``."""
    if not HydraConfig.initialized():
        return "rerun the same command to resume"
    folder, key = run_folder()
    return f"rerun the same command with {key}={folder} to resume"


def describe_interrupt(signum: int) -> str:
    """One sentence for a run stopped by ``signum``: where its finished clips are and how to resume."""
    name = signal.Signals(signum).name
    if not HydraConfig.initialized():
        return f"Interrupted by {name} outside a run: run the command again."
    folder, _ = run_folder()
    return f"Interrupted by {name}: the clips finished so far are saved in {folder}; {resume_hint()}."


def describe_output_location(err: OSError) -> str | None:
    """One sentence for an ``OSError`` of Hydra's own writes (the run or sweep directory, its log file,
    ``.hydra``, a sweep's summary); None for any other ``OSError`` (a bug: it keeps its traceback)."""
    if not err.filename:
        return None
    path = Path(err.filename)
    if HydraConfig.initialized():
        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    else:  # Hydra forgot its config when the job's setup failed: the command line says
        args = sys.argv[1:]
        multirun = bool({"-m", "--multirun", "hydra.mode=MULTIRUN"} & set(args)) or any(
            a.startswith("hparams_search=") and not a.endswith("=null") for a in args
        )
    if _started:  # a job ran: only Hydra's writes for the sweep (a later job's directory, the summary)
        sweep = _started[-1]
        if sweep is None or not path.absolute().is_relative_to(sweep):
            return None
        multirun = True
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    why = err.strerror or type(err).__name__
    if path.exists() and not path.is_dir():
        why = f"{why}: it is a file"
    return f"Cannot write {path} ({why}): set {key} to a folder you can write, on a disk with free space."


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
    global SCRIPT
    import __main__

    spec = getattr(__main__, "__spec__", None)
    SCRIPT = [sys.executable, os.path.abspath(sys.argv[0])] if spec is None else [sys.executable, "-m", spec.name]
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
    except RankFailed as err:
        message, status = str(err), 1
    except (KeyboardInterrupt, SystemExit) as err:
        if isinstance(err, SystemExit) and not _received:
            raise
        signum, message = _received[0] if _received else (signal.SIGINT, describe_interrupt(signal.SIGINT))
        status = 128 + signum
    except (OSError, ValueError) as err:
        # Hydra's log file that cannot be opened comes as logging's ValueError from the OSError
        cause = err if isinstance(err, OSError) else err.__cause__
        message, status = describe_output_location(cause) if isinstance(cause, OSError) else None, EXIT_USER_ERROR
        if message is None:
            raise
    except Exception:
        if not _received:  # an error that the signal caused (a collective whose peer stopped)
            raise
        signum, message = _received[0]
        status = 128 + signum
    else:
        return
    if _joined_ranks():
        sys.exit(status)  # rank 0 reports the run
    if _rank() > 0:
        message = f"(rank {_rank()}) {message}"
    sys.stderr.write(f"error: {message}\n")
    sys.exit(status)


def _rank() -> int:
    """This process's rank in a multi-process run, as its launcher set it (0 otherwise)."""
    for key in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def _joined_ranks() -> bool:
    """Whether this is a rank > 0 that has joined a multi-process run (whose rank 0 reports)."""
    distributed = sys.modules.get("videoattr.distributed")
    return distributed is not None and distributed.JOINED_AS > 0


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

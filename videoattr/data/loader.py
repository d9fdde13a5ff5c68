"""Clips decoded in DataLoader worker processes while the model explains the ones before them.

``load_clips(dataset, indices, num_workers, prefetch)`` yields one ``(index, item, failure)`` per index, in
the order of ``indices``: the dataset's item and None, or None and the clip's ``Failure`` (stage
``load``) when reading it raised a clip's error (``videoattr.errors.is_clip_error``); any other error
(a bug) is raised with its traceback, as in the main process. The dataset may be any map-style dataset
of ``VideoDataset``-like items (clips, windows of long videos, ...).

A worker process that dies (a decoder's segfault, the kernel's OOM killer) is noticed by torch's
DataLoader the next time a clip is awaited (it checks its workers every few seconds): the clip awaited
then is read again alone, in a fresh worker; if that one dies too, it is that clip's failure, otherwise
the clip is yielded and a fresh pool goes on with the next. So a crash costs one clip at most and never
hangs the run.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence

from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils import signal_handling

from videoattr.errors import Failure, is_clip_error, reason

Outcome = tuple[int, dict | None, Failure | None]
# How torch's DataLoader starts the RuntimeError it raises when a worker process died.
_WORKER_DIED = "DataLoader worker"


def default_workers(processes: int = 1) -> int:
    """Decoding processes for ``dataset.num_workers: null`` in each of ``processes`` run processes (DDP
    ranks) of this machine: its share of the cores this process may use, less the one that runs the
    model, at most 8 (0 on a single core)."""
    return max(0, min(8, len(os.sched_getaffinity(0)) // processes - 1))


def workers_of(num_workers: int | None, processes: int = 1) -> int:
    """``dataset.num_workers``, or ``default_workers(processes)`` when null."""
    return default_workers(processes) if num_workers is None else int(num_workers)


class Outcomes(Dataset):
    """Item k: ``(indices[k], dataset[indices[k]], None)``, or ``(indices[k], None, Failure)`` when
    reading it failed for the clip's own reason."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> Outcome:
        index = self.indices[k]
        try:
            return index, self.dataset[index], None
        except Exception as err:
            if not is_clip_error(err):
                raise
            return index, None, Failure("load", reason(err), portable(err))


def portable(err: BaseException) -> BaseException | None:
    """``err`` if it survives the trip from a worker process to the main one (pickling), else None."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return None
    return err


def _as_is(outcome: Outcome) -> Outcome:
    return outcome


def _loader(dataset: Dataset, indices: Sequence[int], num_workers: int, prefetch: int) -> DataLoader:
    """A DataLoader of the ``Outcomes`` of ``indices``, in order, keeping about ``prefetch`` clips ready."""
    options = {}
    if num_workers > 0:
        options = {"prefetch_factor": max(2, -(-prefetch // num_workers))}
    return DataLoader(
        Outcomes(dataset, indices), batch_size=None, num_workers=num_workers, collate_fn=_as_is, **options
    )


def load_clips(dataset: Dataset, indices: Sequence[int], num_workers: int, prefetch: int = 2) -> Iterator[Outcome]:
    """The outcome of reading each of ``indices``, in order; with ``num_workers`` > 0 read by that many
    worker processes, about ``prefetch`` clips ahead of the one yielded (e.g. a batch)."""
    if num_workers == 0:
        yield from Outcomes(dataset, indices)
        return
    # torch raises a worker's death from a SIGCHLD handler wherever the main process is (in the model's
    # forward pass, say, where it would look like that clip's error); without the handler the loader
    # raises it when it next awaits a clip, which is where it is handled here.
    signal_handling._SIGCHLD_handler_set = True
    position = 0
    while position < len(indices):
        try:
            for outcome in _loader(dataset, indices[position:], num_workers, prefetch):
                position += 1
                yield outcome
            return
        except RuntimeError as err:
            if not worker_died(err):
                raise
            yield _alone(dataset, indices[position])
            position += 1


def _alone(dataset: Dataset, index: int) -> Outcome:
    """Clip ``index`` read by a worker of its own: its outcome, or its failure if that worker dies too."""
    try:
        return next(iter(_loader(dataset, [index], 1, 1)))
    except RuntimeError as err:
        if not worker_died(err):
            raise
        why = "the process decoding it died (a crash of the decoder, or out of memory)"
        return index, None, Failure("load", f"{why}: check the file (ffprobe it), re-encode it or remove it")


def worker_died(err: RuntimeError) -> bool:
    """Whether ``err`` is torch's DataLoader saying that one of its worker processes died."""
    return str(err).startswith(_WORKER_DIED)

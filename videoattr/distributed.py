"""The processes of a multi-process (DDP) run of ``run.py``, and how they agree on what to do.

With ``trainer.strategy=ddp`` and several devices (or nodes), the perturbation fits run in K processes
(ranks). Rank 0 is the process the user started; on one machine it starts ranks 1 .. K-1 itself, as
``python run.py <the job's own overrides> hydra.run.dir=<its run directory>`` (for a job of a sweep too);
under SLURM (``hydra/launcher=slurm_ddp``) or torchrun the ranks are started for it. Every rank then
runs the whole job: it loads the model and the dataset and goes through the same clips, in the same
batches, in the same order, so that the fits' collectives match. Only rank 0 writes results.

What could differ between ranks is agreed on before it matters (``World.gather`` / ``World.broadcast``,
over a gloo group of their own): rank 0's list of the clips still to do (the others never look at
the result files, which rank 0 is writing), whether each clip loaded on every rank (a clip that fails
on one rank fails on all, and rank 0 records it), and the targets of a batch. A clip the model fails
on inside a fit fails that fit on every rank at once (``PerturbationFit``).

A rank started here that stops with an error stops the run: rank 0 reports it in one line
(``RankFailed``) and stops the others. With one process (the default) ``World`` does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from videoattr.errors import RankFailed, VideoAttrError

log = logging.getLogger(__name__)

# How long a rank started here may take to exit (once the run is over, or after a collective with it
# failed), and how long rank 0 waits for its own error path (a closed connection) after a rank stopped
# before it ends the run itself.
EXIT_WAIT_S = 120.0
STOP_GRACE_S = 30.0
_DDP_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# hydra.* overrides that belong to rank 0's launch (its sweep, its launcher), not to a rank's run.
_LAUNCH_KEYS = ("hydra.run.", "hydra.sweep.", "hydra.mode", "hydra/launcher", "hydra.launcher.",
                "hydra/sweeper", "hydra.sweeper.", "hydra.output_subdir", "hydra.job.name")  # fmt: skip


class World:
    """This process's place among the run's processes: ``rank`` of ``size`` (0 of 1 alone)."""

    def __init__(
        self,
        rank: int = 0,
        size: int = 1,
        workers: list[subprocess.Popen] | None = None,
        environ: dict[str, str | None] | None = None,
    ):
        self.rank, self.size = rank, size
        self.workers = workers or []  # the ranks this process started (rank 0 on its machine)
        self.environ = environ or {}  # the DDP variables as they were before this world set them
        self.group = None  # a gloo group for the objects the ranks agree on
        self.stopping = threading.Event()
        if self.workers:
            threading.Thread(target=self._watch, name="videoattr-ranks", daemon=True).start()

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order (a list of one alone)."""
        if self.size == 1:
            return [value]
        values: list[Any] = [None] * self.size
        dist.all_gather_object(values, value, group=self.group)
        return values

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    def failed_worker(self) -> tuple[int, int] | None:
        """(rank, exit status) of the first rank started here that stopped with an error."""
        for rank, worker in enumerate(self.workers, start=1):
            status = worker.poll()
            if status not in (None, 0):
                return rank, status
        return None

    def worker_error(self, wait: float = 0.0) -> RankFailed | None:
        """The error of the first rank started here that stopped with one; with ``wait``, a collective
        failed (a closed connection): wait up to that many seconds for a rank to exit first."""
        deadline = time.monotonic() + wait
        while wait and self.failed_worker() is None and time.monotonic() < deadline:
            if all(worker.poll() is not None for worker in self.workers):
                break
            time.sleep(0.05)
        failed = self.failed_worker()
        if failed is None:
            return None
        rank, status = failed
        how = f"was killed by {signal.Signals(-status).name}" if status < 0 else f"stopped with exit status {status}"
        from videoattr.cli import resume_hint

        return RankFailed(f"The process of rank {rank} {how} (its error is above): the run stops; {resume_hint()}.")

    def close(self, ok: bool) -> None:
        """The end of the run on this rank. ``ok``: every rank finished, wait for the ranks started here;
        otherwise stop them (they may be waiting in a collective that will never complete)."""
        self.stopping.set()
        if self.size == 1:
            return
        if ok:
            dist.barrier(group=self.group)
            for worker in self.workers:
                try:
                    worker.wait(timeout=EXIT_WAIT_S)
                except subprocess.TimeoutExpired:
                    worker.kill()  # done with the run, stuck on its way out
                    worker.wait()
        else:
            for worker in self.workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        if dist.is_initialized():
            dist.destroy_process_group()
        for key, value in self.environ.items():  # a next job (of a sweep) starts its own ranks
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        global _current
        _current = World()

    def _watch(self) -> None:
        """Rank 0's watch over the ranks it started: when one stops with an error while the run goes on,
        the run's own error path normally follows (a collective fails); if rank 0 is stuck in one (NCCL
        waits), end the run here after ``STOP_GRACE_S``."""
        while not self.stopping.is_set():
            if self.failed_worker() is not None:
                if self.stopping.wait(STOP_GRACE_S):
                    return
                for worker in self.workers:
                    if worker.poll() is None:
                        worker.kill()
                sys.stderr.write(f"error: {self.worker_error()}\n")
                sys.stderr.flush()
                os._exit(1)
            self.stopping.wait(1.0)


_current = World()
# The rank this process joined a multi-process run as (0: it did not, or as rank 0); ranks > 0 leave
# the reporting of errors to rank 0 (videoattr.cli).
JOINED_AS = 0


def current() -> World:
    """The world of this process's run (one process until ``start_world``)."""
    return _current


def start_world(trainer_cfg: Mapping[str, Any]) -> World:
    """The processes of a run whose perturbation fits use ``trainer_cfg`` (conf/trainer): one (a
    ``World`` of size 1) unless it asks for DDP on several devices or nodes; then, on rank 0 here,
    start the other ranks of this machine (unless SLURM or torchrun started them), and join every rank
    to one process group, which the fits' Trainers then use."""
    global _current, JOINED_AS
    from pytorch_lightning.strategies import DDPStrategy
    from pytorch_lightning.strategies.launchers import _SubprocessScriptLauncher

    from videoattr.methods.perturbation.fit import build_trainer, quiet_lightning, trainer_kwargs

    with quiet_lightning(silence_info=True):
        trainer = build_trainer(trainer_kwargs(1, torch.device("cpu"), trainer_cfg, False, None))
    strategy = trainer.strategy
    if trainer.world_size <= 1 or not isinstance(strategy, DDPStrategy):
        return _current
    if not isinstance(strategy.launcher, _SubprocessScriptLauncher):
        return _current  # ddp_spawn / ddp_fork: each fit spawns its processes, this one runs the job
    environ = {key: os.environ.get(key) for key in _DDP_VARIABLES}
    workers = [] if strategy.cluster_environment.creates_processes_externally else _start_ranks(strategy)
    world = World(0, trainer.world_size, workers, environ)
    _current = world  # watched from here on: a rank that fails to start ends the run
    try:
        strategy.setup_environment()  # the device, and the process group (NCCL on GPUs, gloo on CPUs)
        world.rank = JOINED_AS = strategy.global_rank
        world.group = dist.new_group(backend="gloo")
    except BaseException:
        world.close(ok=False)
        raise
    return world


def _start_ranks(strategy) -> list[subprocess.Popen]:
    """Start local ranks 1 .. K-1 of this machine as Lightning would, but each with this job's own
    overrides (not the sweep's command line) and its run directory; set rank 0's DDP environment."""
    from hydra.core.hydra_config import HydraConfig

    from videoattr import cli

    if cli.SCRIPT is None:
        raise VideoAttrError(
            f"trainer.devices={strategy.num_processes} with trainer.strategy=ddp starts more processes of run.py, "
            "which this launcher cannot do: run without a hydra/launcher (or on SLURM with hydra/launcher=slurm_ddp)."
        )
    environment = strategy.cluster_environment
    os.environ["MASTER_ADDR"] = environment.main_address
    os.environ["MASTER_PORT"] = str(environment.main_port)
    os.environ["NODE_RANK"] = str(environment.node_rank())
    os.environ["LOCAL_RANK"] = "0"
    os.environ["WORLD_SIZE"] = str(strategy.num_processes * strategy.num_nodes)
    hydra = HydraConfig.get()
    command = [*cli.SCRIPT, *rank_overrides(hydra.overrides.task, hydra.overrides.hydra, hydra.runtime.output_dir)]
    workers = []
    for local_rank in range(1, strategy.num_processes):
        env = dict(os.environ, LOCAL_RANK=str(local_rank))
        workers.append(subprocess.Popen(command, env=env, cwd=hydra.runtime.cwd))
    return workers


def rank_overrides(task: list[str], hydra: list[str], run_dir: str) -> list[str]:
    """The command-line overrides of a rank > 0: the job's own (``task``), the user's ``hydra`` ones but
    those of the launch, and the job's run directory, in run mode, without a second ``.hydra``."""
    kept = [o for o in hydra if not o.lstrip("+~").startswith(_LAUNCH_KEYS)]
    quoted = "'" + str(Path(run_dir)).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return [*task, *kept, f"hydra.run.dir={quoted}", "hydra.output_subdir=null", "hydra.mode=RUN"]

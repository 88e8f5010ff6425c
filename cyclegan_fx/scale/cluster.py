"""Ray: start or join a runtime, start one worker actor per GPU or per group of CPU threads, and feed them.

A worker is a class with ``ready()`` and ``translate(item)``: the batch job's Translator (one file per item)
or the video job's ChunkTranslator (one chunk per item). Work is handed out a few items per actor at a time,
so the driver's memory does not grow with the number of items. Lost workers are mostly Ray's business: actors
restart (loading the model again) and the task they were running is retried; the feed itself sends again the
items of a worker whose node stopped answering, as Ray's retries run out before the node is declared dead.
Only an input that kills its worker on every attempt ends up as a failure.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cyclegan_fx.errors import ConfigError, DeviceError
from cyclegan_fx.extras import require_extra
from cyclegan_fx.scale.model_files import ModelFiles
from cyclegan_fx.scale.work import Outcome, WorkerSettings, WorkItem, locations

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("cyclegan_fx")

TASK_RETRIES = 2  # attempts after the first when a worker dies while translating an item
CONCURRENCY = 2  # files a batch actor translates at once: one in the runner while the other reads or writes
QUEUED = 1  # calls waiting in each actor's queue, so it never idles between files
UNREACHABLE_PATIENCE = 300.0  # seconds an item waits for a worker whose node stopped answering
UNREACHABLE_PAUSE = 1.0  # seconds a worker that did not answer gets no new work
NEEDS_RAY = "Batch jobs need Ray"  # what require_extra says when Ray is missing


@dataclass(frozen=True)
class Placement:
    actors: int
    cpus: float  # per actor
    gpus: float  # per actor


@contextlib.contextmanager
def ray_runtime(address: str | None) -> Iterator[None]:
    """Join the cluster at ``address``, or start a local runtime for this job (None); left as found.

    When Ray is running already in this process, the caller's connection and code environment are used.
    """
    ray = require_extra("ray", NEEDS_RAY)
    if ray.is_initialized():  # the caller (a notebook, a test) manages Ray itself
        yield
        return
    if address:
        _check_reachable(address)
    import cyclegan_fx

    # The driver's own code travels with the job, so every node runs the same version of it; the nodes
    # need the dependencies only.
    code = {"py_modules": [str(Path(cyclegan_fx.__file__).parent)]}
    try:
        ray.init(address=address or "local", include_dashboard=False, logging_level=logging.WARNING, runtime_env=code)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        raise ConfigError(f"Cannot start or join {where}: {first}.") from exc
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail at once on a HOST:PORT where nothing listens (Ray itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # "auto" and ray:// client addresses are Ray's to resolve
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise ConfigError(f"Nothing answers at {address} ({exc.strerror or exc}); is 'ray start --head' running there?") from None


def plan_placement(device: str, actors: int | None, threads: int | None) -> Placement:
    """One actor per GPU when the cluster has GPUs (or --device cuda), else one per ``threads`` CPUs."""
    import ray

    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0.0), int(resources.get("GPU", 0))
    if device.startswith("cuda") or (device == "auto" and gpus):
        if not gpus:
            raise DeviceError("--device cuda was asked for but the Ray cluster has no GPU; use --device cpu.")
        return _checked(Placement(actors or gpus, threads or 1, 1), cpus, gpus)
    threads = threads or max(1, min(4, int(cpus)))
    return _checked(Placement(actors or max(1, int(cpus // threads)), threads, 0), cpus, gpus)


def _checked(placement: Placement, cpus: float, gpus: int) -> Placement:
    """Refuse more actors than the cluster holds: the extra ones would wait forever with their share of work."""
    if placement.gpus and placement.actors > gpus:
        raise ConfigError(f"The Ray cluster has {gpus} GPU(s); it cannot hold {placement.actors} GPU workers.")
    if placement.actors * placement.cpus > cpus:
        raise ConfigError(
            f"The Ray cluster has {cpus:g} CPUs; {placement.actors} workers of {placement.cpus:g} thread(s) do not fit "
            "(lower --actors or --threads)."
        )
    return placement


class ModelShelf:
    """Holds the reference to the model's files for the whole job, on the driver's node, so that a worker
    restarted later, on any other node, can fetch them. (A reference passed to the workers' constructors
    would also work, but Ray cannot always restore such an argument for a restart: ray-project/ray#53727.)"""

    def __init__(self) -> None:
        self.refs: list = []

    def put(self, refs: list) -> None:
        self.refs = refs

    def get(self) -> list:
        return self.refs


@dataclass(frozen=True)
class ShelvedModel:
    """What a worker calls to get the model: a fetch from the job's shelf."""

    shelf: str

    def __call__(self) -> ModelFiles:
        import ray

        refs = ray.get(ray.get_actor(self.shelf).get.remote())
        return ray.get(refs[0])


@dataclass
class Workers:
    actors: list
    shelf: object
    concurrency: int = CONCURRENCY  # calls each actor runs at once

    def stop(self) -> None:
        import ray

        for actor in [*self.actors, self.shelf]:
            ray.kill(actor)


def start_workers(placement: Placement, settings: object, model: ModelFiles, worker: type | None = None,
                  concurrency: int = CONCURRENCY) -> Workers:
    """Actors of ``worker`` (default: the batch Translator) with the model loaded; the first worker's setup
    error (bad device, damaged model) is raised here."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from cyclegan_fx.scale.worker import Translator

    name = f"cyclegan-fx-model-{secrets.token_hex(6)}"
    # On the driver's node: anywhere else, losing that node would leave every restarted worker without a model.
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    shelf = ray.remote(ModelShelf).options(name=name, num_cpus=0, scheduling_strategy=here).remote()
    remote = ray.remote(worker or Translator).options(
        num_cpus=placement.cpus, num_gpus=placement.gpus, max_restarts=-1, max_task_retries=TASK_RETRIES,
        max_concurrency=concurrency,
    )
    workers = Workers([], shelf, concurrency)
    try:
        ray.get(shelf.put.remote([ray.put(model)]))
        workers.actors = [remote.remote(settings, ShelvedModel(name)) for _ in range(placement.actors)]
        problem = next((p for p in ray.get([a.ready.remote() for a in workers.actors]) if p is not None), None)
    except Exception as exc:
        workers.stop()
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ConfigError(f"The Ray workers could not start: {lines[-1] if lines else type(exc).__name__}.") from exc
    except BaseException:
        workers.stop()
        raise
    if problem is not None:
        workers.stop()
        raise problem
    return workers


def feed(workers: Workers, items: Iterable[T], lost: Callable[[T, Exception], R]) -> Iterator[R]:
    """Translate ``items`` on the workers, yielding each outcome as it arrives (in no particular order);
    ``lost`` makes the outcome of an item whose task Ray could not complete.

    A worker whose node stopped answering fails its tasks at once, Ray's retries included, until the cluster
    declares the node dead and restarts the worker elsewhere (seconds to tens of seconds): such an item is
    sent again, to a worker that answers where there is one, for up to ``UNREACHABLE_PATIENCE`` seconds.
    """
    import ray
    from ray.exceptions import ActorUnavailableError, RayError

    dispatch = _Dispatch(workers.actors)
    items = iter(items)
    again: list[tuple[T, float]] = []  # items whose worker did not answer, with the time to give up on them
    pending: dict[object, tuple[T, int, float]] = {}
    capacity = (workers.concurrency + QUEUED) * len(workers.actors)
    exhausted = False
    while True:
        while len(pending) < capacity and (again or not exhausted):
            item, deadline = again.pop(0) if again else (next(items, None), 0.0)
            if item is None:
                exhausted = True
                break
            index = dispatch.pick()
            pending[workers.actors[index].translate.remote(item)] = (item, index, deadline)
        if not pending:
            return
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            item, index, deadline = pending.pop(ref)
            dispatch.done(index)
            try:
                yield ray.get(ref)
            except ActorUnavailableError as exc:
                deadline = deadline or time.monotonic() + UNREACHABLE_PATIENCE
                if time.monotonic() < deadline:
                    dispatch.unreachable(index)
                    again.append((item, deadline))
                else:
                    yield lost(item, exc)
            except RayError as exc:
                yield lost(item, exc)


class _Dispatch:
    """Which worker gets the next item: the least loaded of those that answered last, else of all after a pause."""

    def __init__(self, actors: list) -> None:
        self.load = [0] * len(actors)
        self.quiet_until = [0.0] * len(actors)  # until when a worker that did not answer gets no work

    def pick(self) -> int:
        now = time.monotonic()
        answering = [i for i, until in enumerate(self.quiet_until) if until <= now]
        if not answering:  # every worker is unreachable: wait for the first to be worth trying again
            time.sleep(min(self.quiet_until) - now)
            return self.pick()
        index = min(answering, key=self.load.__getitem__)
        self.load[index] += 1
        return index

    def done(self, index: int) -> None:
        self.load[index] -= 1

    def unreachable(self, index: int) -> None:
        self.quiet_until[index] = time.monotonic() + UNREACHABLE_PAUSE


def lost_file(settings: WorkerSettings) -> Callable[[WorkItem, Exception], Outcome]:
    """``feed``'s ``lost`` for the batch job: a failed outcome naming the file."""

    def lost(item: WorkItem, exc: Exception) -> Outcome:
        source, target = locations(settings, item)
        return Outcome(source.text, target.text, "failed", lost_reason(source.text, exc))

    return lost


def lost_reason(what: str, exc: Exception) -> str:
    """One sentence for an item whose task Ray could not complete."""
    from ray.exceptions import OutOfMemoryError, RayTaskError

    log.debug("Task for %s failed: %s", what, exc)
    if isinstance(exc, RayTaskError):
        return f"Cannot translate {what}: the worker raised {type(exc.cause).__name__}."
    why = "the node ran out of memory" if isinstance(exc, OutOfMemoryError) else "its process or node died"
    return f"Cannot translate {what}: the worker was lost on all {TASK_RETRIES + 1} attempts ({why})."

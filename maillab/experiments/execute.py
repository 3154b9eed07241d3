"""Running a sweep's tasks: skip the cached ones, run the rest on Dask, collect results in table order.

Where the runs go (``scheduler``):
    None                     a LocalCluster of ``workers`` processes (default: one per CPU, at most one per
                             run), one thread each, no dashboard, distributed's own logging silenced (a
                             failed run is reported by the sweep itself); started for this sweep, closed after
    "tcp://host:8786"        an existing Dask scheduler (its workers need maillab installed)
    a distributed.Client     an existing client (left open)
    "synchronous"            this process, one run after the other, without Dask (for debugging)

Results come back in completion order (``distributed.as_completed``) and are put in their place in the
table, so the table is the same whatever the number of workers. Each finished run is written to the cache at
once: an interrupted sweep keeps what it finished. The first failed run stops the sweep (the others are
cancelled); its error says which run it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from maillab.errors import ConfigError
from maillab.experiments.cache import RunCache
from maillab.experiments.runner import RunTask, run_one

SYNCHRONOUS = "synchronous"


def execute(tasks: Sequence[RunTask], workers: int | None = None, scheduler: Any = None,
            progress: bool | None = None, cache: RunCache | None = None) -> tuple[list[dict[str, Any]], int]:
    """The metrics of every task, in task order, and how many runs were executed (not from the cache)."""
    done: dict[int, dict[str, Any]] = {}
    if cache is not None:
        for task in tasks:
            hit = cache.get(task.key)
            if hit is not None:
                done[task.index] = hit
    pending = [task for task in tasks if task.index not in done]
    with progress_bar(len(tasks), len(done), progress) as bar:
        for task, metrics in _results(pending, workers, scheduler):
            done[task.index] = metrics
            if cache is not None:
                cache.put(task, metrics)
            bar.update(1)
    return [done[task.index] for task in tasks], len(pending)


def check_target(workers: int | None, scheduler: Any) -> None:
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    if workers is not None and scheduler is not None:
        raise ConfigError("give workers= (a local cluster) or scheduler= (an existing one), not both")


def _results(pending: list[RunTask], workers: int | None, scheduler: Any) -> Iterator[tuple[RunTask, dict[str, Any]]]:
    if not pending:
        return
    if isinstance(scheduler, str) and scheduler == SYNCHRONOUS:
        for task in pending:
            yield task, _run_here(task)
        return
    with dask_client(workers, scheduler, len(pending)) as client:
        yield from _on_dask(client, pending)


def _run_here(task: RunTask) -> dict[str, Any]:
    try:
        return run_one(task)
    except Exception as error:
        raise _in_run(task, error) from error


def _on_dask(client: Any, pending: list[RunTask]) -> Iterator[tuple[RunTask, dict[str, Any]]]:
    from distributed import as_completed

    futures = {client.submit(run_one, task, pure=False): task for task in pending}
    try:
        for future in as_completed(futures):
            task = futures[future]
            try:
                metrics = future.result()
            except Exception as error:
                raise _in_run(task, error) from error
            future.release()
            yield task, metrics
    finally:
        with contextlib.suppress(Exception):
            client.cancel([f for f in futures if not f.done()])


def _in_run(task: RunTask, error: Exception) -> Exception:
    """Say which run failed: a ConfigError stays one line (exit 2 on the command line); others get a note."""
    if isinstance(error, ConfigError):
        return ConfigError(f"{task.describe()}: {error}")
    error.add_note(f"in the sweep run {task.describe()}")
    return error


@contextlib.contextmanager
def dask_client(workers: int | None, scheduler: Any, runs: int) -> Iterator[Any]:
    """A Dask client for ``scheduler`` (see the module's docstring); a local cluster is closed afterwards."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as error:
            raise ConfigError(f"scheduler {scheduler}: cannot connect ({error})") from None
        with client:
            yield client
        return
    count = max(1, min(workers or os.cpu_count() or 1, runs))
    # no dashboard; the scheduler's plain HTTP endpoint on a free loopback port (not 8787: no clash, no warning)
    http = {"dashboard_address": "127.0.0.1:0"}
    with LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs=http, silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        yield client


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: int, initial: int, show: bool | None) -> Iterator[Any]:
    """A tqdm bar counting runs (tqdm.auto: a widget in notebooks), shown where someone is watching: on a
    terminal or in a notebook, unless ``show`` says otherwise."""
    if show is None:
        show = sys.stderr.isatty() or in_notebook()
    if not show:
        yield _NoBar()
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, initial=initial, desc="sweep", unit="run") as bar:
        yield bar


def in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"

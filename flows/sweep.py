"""The sweep flow: (variant, replication) batches as Prefect tasks on a Dask cluster.

A thin shell over :mod:`twin.experiments.sweep`: :func:`sweep_flow` runs
:func:`~twin.experiments.sweep.run_sweep` with an executor that submits each batch as a
Prefect task on prefect-dask's ``DaskTaskRunner`` and yields results as they complete, so the
library commits each batch the moment it arrives (resume) and the CLI's progress bar moves.

:func:`run_sweep_flow` picks the runner: a local Dask cluster of ``workers`` processes (one
thread each), or an existing scheduler at ``address``. Process workers need a real Prefect API
(else each starts its own temporary one): :func:`flows.server.prefect_api` starts ``prefect server
start`` on a free 127.0.0.1 port for the duration, in its own process group, with a watchdog
that stops it if this process dies (even by SIGKILL).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from flows.server import prefect_api
from twin.errors import ConfigError
from twin.experiments.sweep import BatchJob, Variant, run_batch, run_sweep

__all__ = [
    "check_dask_address",
    "replicate",
    "run_sweep_flow",
    "sweep_flow",
]


def _replicate(job: BatchJob) -> list[dict[str, Any]]:
    """Run one batch of replications of one variant (on a Dask worker)."""
    return run_batch(job)


# a module-level plain function under its own name pickles by reference on Dask workers
replicate = task(name="replications", cache_policy=NO_CACHE, retries=0)(_replicate)


def _dask_executor(jobs: Sequence[BatchJob]) -> Iterator[tuple[BatchJob, list[dict[str, Any]]]]:
    futures = [replicate.submit(job) for job in jobs]
    by_id = {f.task_run_id: job for f, job in zip(futures, jobs, strict=True)}
    for fut in as_completed(futures):
        yield by_id[fut.task_run_id], fut.result()


_REQUESTS: dict[str, dict[str, Any]] = {}
"""Sweep requests by id. The flow's only parameter is the id: flow parameters travel with every
task's context to the workers, and a request holds scenarios and a progress callback."""


def _request(request_id: str) -> dict[str, Any]:
    # a function, not the dict: the flow function is pickled by value into every task's
    # context, and its globals must not drag the request (progress bar, locks) along
    return _REQUESTS[request_id]


@flow(name="sweep")
def sweep_flow(request_id: str) -> dict[str, Any]:
    """Run the sweep registered under *request_id* (see :func:`run_sweep_flow`)."""
    return run_sweep(execute=_dask_executor, **_request(request_id))


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_dask_address(address: str, timeout: float = 5.0) -> None:
    """Check that a Dask scheduler answers at ``tcp://HOST:PORT``.

    Raises:
        ConfigError: Malformed address, or nothing listens there.

    """
    rest = address.removeprefix("tcp://")
    host, _, port = rest.rpartition(":")
    if not address.startswith("tcp://") or not host or not port.isdigit():
        raise ConfigError(f"--dask-address {address!r}: write tcp://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--dask-address {address}: no Dask scheduler answers ({exc.strerror or exc}); "
            "start one with `dask scheduler` or check the address"
        ) from None


def run_sweep_flow(
    variants: Sequence[Variant],
    out: str | Path,
    *,
    workers: int = 2,
    address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run a sweep as a Prefect flow on Dask; return the comparison.

    Args:
        variants: The variants.
        out: The sweep folder.
        workers: Local Dask worker processes (ignored with *address*).
        address: An existing Dask scheduler ``tcp://HOST:PORT``.
        progress: ``(finished, planned)`` callback (runs in this process).
        **kwargs: Further :func:`~twin.experiments.sweep.run_sweep` arguments.

    Raises:
        ConfigError: Unreachable scheduler, bad worker count.

    """
    from prefect.settings import PREFECT_API_URL
    from prefect_dask import DaskTaskRunner

    if address is not None:
        check_dask_address(address)
        runner = DaskTaskRunner(address=address)
        name = f"dask {address}"
    else:
        if workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}")
        runner = DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": ":0",
                "silence_logs": logging.ERROR,
            }
        )
        name = f"dask local x{workers}"
    request = {
        "variants": variants,
        "out": str(out),
        "progress": progress,
        "executor_name": name,
        **kwargs,
    }
    for name in ("distributed", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.WARNING)  # keep the progress bar readable
    request_id = uuid.uuid4().hex
    _REQUESTS[request_id] = request
    try:
        with contextlib.ExitStack() as stack:
            if not PREFECT_API_URL.value():
                stack.enter_context(prefect_api(None, ui=False, export_env=True))
            result: dict[str, Any] = sweep_flow.with_options(task_runner=runner)(request_id)  # type: ignore[arg-type]
    finally:
        _REQUESTS.pop(request_id, None)
    return result

"""The nightly sync as Prefect 3 flows: a task per source, then one atomic load per source.

Thin shell over :mod:`twin.sync`: :func:`extract` (a task, retried on I/O errors) runs a source's
adapter, :func:`sync_sources` (a flow) loads each extract into the lake in load order and
returns one run report, also published as a Prefect table artifact. :func:`nightly_sync` is
the deployment entry point: it calls :func:`sync_sources` as a subflow and is where later
"after sync" steps (recalibrate, replay, fidelity) go, each taking the report.

Run once: ``twin sync``; serve nightly: ``twin serve`` (see :func:`serve_nightly`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.deployments.runner import RunnerDeployment
from prefect.states import State

from twin.errors import TwinError
from twin.sources import Source, SyncConfig, load_config
from twin.store.lake import Lake
from twin.sync import (
    Extract,
    ProgressCallback,
    RunReport,
    SourceResult,
    city_zones,
    extract_source,
    is_zone_source,
    load_source,
    new_run_id,
    phases,
    record_failure,
)

__all__ = [
    "AFTER_SYNC",
    "build_schedule",
    "extract",
    "nightly_deployment",
    "nightly_fidelity",
    "nightly_sync",
    "prefect_api",
    "progress_hook",
    "serve_nightly",
    "sync_sources",
]

AFTER_SYNC: list[Callable[[dict[str, Any], str], None]] = []
"""Steps :func:`nightly_sync` runs after a sync, in order, as ``step(report, lake_dir)``.

Later features (recalibration, replay, fidelity) append a function here, typically one that
calls their own subflow.
"""

_progress_lock = threading.Lock()
_progress: ProgressCallback | None = None


@contextlib.contextmanager
def progress_hook(callback: ProgressCallback | None) -> Iterator[None]:
    """Send per-source progress of flows run in this process to *callback*."""
    global _progress
    with _progress_lock:
        previous, _progress = _progress, callback
    try:
        yield
    finally:
        with _progress_lock:
            _progress = previous


def _notify(source: str, phase: str, result: SourceResult | None = None) -> None:
    callback = _progress
    if callback is not None:
        callback(source, phase, result)


def _retry_io(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a failed extraction unless the input itself is at fault (a TwinError)."""
    try:
        state.result()
    except TwinError:
        return False
    except Exception:
        return True
    return False


@task(
    name="extract",
    task_run_name="extract-{source.name}",
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_retry_io,
    cache_policy=NO_CACHE,
)
def extract(
    config: SyncConfig,
    source: Source,
    run_id: str,
    zones: pa.Table | None = None,
    watermark: str | None = None,
) -> Extract:
    """Run one source's adapter over its input (retried on I/O errors).

    Args:
        config: The sync config.
        source: The source.
        run_id: The run id.
        zones: The city's zones for point sources.
        watermark: The source's last watermark (incremental API pulls).

    Returns:
        The source's extract.

    """
    _notify(source.name, "start")
    out = extract_source(config, source, run_id=run_id, zones=zones, watermark=watermark)
    _notify(source.name, "extracted")
    return out


@flow(name="sync-sources", log_prints=True)
def sync_sources(
    config_path: str | None = None,
    lake_dir: str | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Sync every enabled source into the lake and return the run report.

    Args:
        config_path: The sync config file (the bundled default when None).
        lake_dir: The lake directory (``TWIN_LAKE`` or ``./lake`` when None).
        only: Sync only these sources.

    Returns:
        ``{"run_id": ..., "sources": {NAME: {rows_in, rows_ok, ..., status}}}``.

    """
    config = load_config(config_path)
    lake = Lake(lake_dir)
    report = RunReport(run_id=new_run_id())
    with lake.lock():
        for phase in phases(config, only):
            zones: dict[str, pa.Table | None] = {}
            if not is_zone_source(phase[0]):
                zones = {c.name: city_zones(lake, c.name) for c in config.cities}
            started = dt.datetime.now(dt.UTC)
            futures = {
                s.name: extract.submit(
                    config, s, report.run_id, zones.get(s.city), lake.last_watermark(s.name)
                )
                for s in phase
            }
            for name, future in futures.items():
                outcome = future.result(raise_on_failure=False)
                try:
                    if isinstance(outcome, BaseException):
                        raise outcome
                    if not isinstance(outcome, Extract):
                        raise TwinError(f"source {name!r}: extraction returned {outcome!r}")
                    result = load_source(lake, outcome, run_id=report.run_id)
                except Exception as exc:
                    result = record_failure(
                        lake, name, run_id=report.run_id, error=exc, started=started
                    )
                report.sources[name] = result
                _notify(name, "done", result)
    _publish(report)
    return report.to_dict()


def _publish(report: RunReport) -> None:
    """Attach the report to the flow run as a table artifact (best effort)."""
    try:
        from prefect.artifacts import create_table_artifact

        rows = [{"source": n, **r.to_dict()} for n, r in report.sources.items()]
        create_table_artifact(
            key="sync-report",
            table=rows,
            description=f"Sync run {report.run_id}: {len(report.failed)} failed source(s)",
        )
    except Exception:  # an artifact is a convenience; the report is returned regardless
        return


@task(name="nightly-fidelity", cache_policy=NO_CACHE)
def nightly_fidelity(lake_dir: str, out_dir: str) -> dict[str, Any]:
    """Recalibrate, replay the newest day, store its fidelity score and flag drift.

    Args:
        lake_dir: The freshly synced lake.
        out_dir: Folder for the nightly scenarios, fit reports and replay outputs.

    Returns:
        The nightly report (``drift`` True when a score left its usual band).

    """
    from twin.nightly import after_sync

    return after_sync(lake_dir, out_dir).to_dict()


@flow(name="nightly-sync")
def nightly_sync(
    config_path: str | None = None,
    lake_dir: str | None = None,
    fidelity: bool = True,
    out_dir: str | None = None,
) -> dict[str, Any]:
    """Sync every source, score the twin, then run the registered after-sync steps.

    This is the nightly deployment. After the sync it recalibrates, replays the newest day and
    stores the fidelity score in the lake (:func:`nightly_fidelity`); the run report gains a
    ``nightly`` entry and a top-level ``drift`` flag. A failure there is reported, not raised:
    the synced lake stays as it is.

    Args:
        config_path: The sync config file (the bundled default when None).
        lake_dir: The lake directory.
        fidelity: Run the recalibrate/replay/fidelity step after the sync.
        out_dir: Where the nightly step writes its scenarios and replays
            (default ``<lake>/../out/nightly``).

    Returns:
        The sync run report, with ``nightly`` and ``drift`` when ``fidelity`` is on.

    """
    report = sync_sources(config_path=config_path, lake_dir=lake_dir)
    lake = str(Lake(lake_dir).root)
    if fidelity:
        target = out_dir or str(Path(lake).resolve().parent / "out" / "nightly")
        try:
            nightly = nightly_fidelity(lake, target)
        except Exception as exc:  # reported in the run report; the sync itself succeeded
            nightly = {"error": f"{type(exc).__name__}: {exc}", "drift": False}
        report["nightly"] = nightly
        report["drift"] = bool(nightly.get("drift", False))
    for step in AFTER_SYNC:
        step(report, lake)
    return report


def nightly_deployment(
    config_path: str | None = None,
    lake_dir: str | None = None,
    *,
    cron: str = "0 2 * * *",
    tz: str | None = None,
    name: str = "nightly",
) -> RunnerDeployment:
    """Build the scheduled deployment of :func:`nightly_sync` (nothing is registered yet).

    Args:
        config_path: The sync config file.
        lake_dir: The lake directory (made absolute so the schedule does not depend on the cwd).
        cron: The cron expression.
        tz: IANA time zone of the cron; the config's default city's zone when None.
        name: The deployment name.

    Raises:
        ConfigError: A bad config, cron expression or time zone.

    """
    from prefect.schedules import Cron

    config = load_config(config_path)
    schedule = build_schedule(cron, tz or config.home_city.tz)
    lake = str(Path(Lake(lake_dir).root).resolve())
    cfg = str(Path(config.config_file).resolve()) if config_path and config.config_file else None
    deployment = nightly_sync.to_deployment(
        name=name,
        schedules=[Cron(schedule["cron"], timezone=schedule["timezone"])],
        parameters={"config_path": cfg, "lake_dir": lake},
        _sync=True,  # type: ignore[call-arg]
    )
    if not isinstance(deployment, RunnerDeployment):  # pragma: no cover - sync dispatch
        raise TwinError("prefect returned no deployment")
    return deployment


@contextlib.contextmanager
def prefect_api(port: int = 4200, *, timeout: float = 120.0) -> Iterator[str]:
    """Make sure a Prefect API with a scheduler is reachable; yield its URL.

    The temporary API Prefect starts on its own runs no scheduler, so scheduled runs would never
    fire. When ``PREFECT_API_URL`` is unset this starts ``prefect server start`` on
    ``127.0.0.1:<port>`` (API, scheduler and UI; nothing leaves the machine) for the duration of
    the block and stops it afterwards.

    Args:
        port: Port of the local server.
        timeout: Seconds to wait for it to answer.

    Raises:
        TwinError: The server did not come up (port in use, ...).

    """
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request

    from prefect.settings import PREFECT_API_URL, temporary_settings

    existing = PREFECT_API_URL.value()
    if existing:
        yield str(existing)
        return
    url = f"http://127.0.0.1:{port}/api"
    exe = Path(sys.executable).with_name("prefect")
    cmd = [str(exe), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    tail = log.read()[-1500:]
                    raise TwinError(
                        f"the local Prefect server on 127.0.0.1:{port} exited "
                        f"(code {proc.returncode}); is the port in use? Use --port. Log:\n{tail}"
                    )
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TwinError(f"the local Prefect server on {url} did not answer in time")
                time.sleep(0.5)
            with temporary_settings(updates={PREFECT_API_URL: url}):
                yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve_nightly(
    config_path: str | None = None,
    lake_dir: str | None = None,
    *,
    cron: str = "0 2 * * *",
    tz: str | None = None,
    name: str = "nightly",
    port: int = 4200,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the nightly deployment on its cron schedule until interrupted (no cloud account).

    Uses ``PREFECT_API_URL`` when set, otherwise a local server on ``127.0.0.1:<port>`` (see
    :func:`prefect_api`); its UI shows the runs. SIGTERM stops it like Ctrl-C.

    Args:
        config_path: The sync config file.
        lake_dir: The lake directory.
        cron: The cron expression.
        tz: IANA time zone of the cron; the config's default city's zone when None.
        name: The deployment name.
        port: Port of the local Prefect server.
        on_ready: Called with the API URL once the server answers.

    """
    import signal

    from prefect import serve

    deployment = nightly_deployment(config_path, lake_dir, cron=cron, tz=tz, name=name)

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with prefect_api(port) as url:
            if on_ready is not None:
                on_ready(url)
            serve(deployment)
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_schedule(cron: str, tz: str) -> dict[str, str]:
    """Validate a cron expression and time zone.

    Returns:
        ``{"cron": ..., "timezone": ...}``.

    Raises:
        ConfigError: Either is invalid.

    """
    import zoneinfo

    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    from twin.errors import ConfigError

    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"--tz: unknown time zone {tz!r}; use an IANA name") from exc
    try:
        CronSchedule(cron=cron, timezone=tz)
    except ValidationError as exc:
        raise ConfigError(f"--cron: {cron!r} is not a cron expression (e.g. '0 2 * * *')") from exc
    return {"cron": cron, "timezone": tz}

"""The nightly sync as Prefect 3 flows: thin shells over the one sync loop in :mod:`twin.sync`.

:func:`sync_sources` runs :func:`twin.sync.run_sync` with a :class:`PrefectExecutor`, which runs
each source's extraction as the :func:`extract` task (retried on I/O errors); the loop itself
(phases, loads, ledger, health) is the library's, the same one the tests' lake fixtures run.
The flow publishes the report as a table artifact and ends ``Completed`` when every source is
ok, ``Failed`` (with a message naming each degraded or failed source) otherwise; the report is
the state's result either way (:func:`report_of`).

:func:`nightly_sync` is the deployment entry point: the sync as a subflow, then the declared
nightly steps (:data:`NIGHTLY_STEPS`, chosen by name with its ``steps`` parameter), each
adding entries to the report. Its run is marked the same way, and also ``Failed`` when a step
failed.

Run once: ``twin sync``; serve nightly: ``twin serve`` (see :func:`serve_nightly`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.deployments.runner import RunnerDeployment
from prefect.states import Completed, Failed, State

from flows.server import prefect_api
from twin.errors import ConfigError, TwinError
from twin.sources import load_config
from twin.store.lake import Lake
from twin.sync import Extract, ExtractJob, Outcome, ProgressCallback, SourceResult, run_sync

__all__ = [
    "NIGHTLY_STEPS",
    "NightlyStep",
    "PrefectExecutor",
    "build_schedule",
    "extract",
    "nightly_deployment",
    "nightly_fidelity",
    "nightly_sync",
    "progress_hook",
    "quiet_user_errors",
    "report_of",
    "serve_nightly",
    "sync_sources",
]

_progress_lock = threading.Lock()
_progress: ProgressCallback | None = None


@contextlib.contextmanager
def progress_hook(callback: ProgressCallback | None) -> Iterator[None]:
    """Send per-source progress of flows run in this process to *callback*.

    Flow parameters travel to the Prefect API as JSON, so a callback cannot be one; this hook
    is the process-local way in (used by ``twin sync``'s progress bars).
    """
    global _progress
    with _progress_lock:
        previous, _progress = _progress, callback
    try:
        yield
    finally:
        with _progress_lock:
            _progress = previous


class _UserErrorFilter(logging.Filter):
    """Drop console records about user errors; the command reports those itself, in one line.

    Dropped: records carrying a :class:`~twin.errors.TwinError` or an ``OSError`` (bad input,
    a held lake, an unreadable file: the report or the command's error line names them), and
    Prefect's "Finished in state Failed(...)" summaries (the record with the exception, or the
    run report, already says why). Anything else, a bug's traceback above all, still shows;
    the Prefect API (and its UI) still receives every record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], TwinError | OSError):
            return False
        if not record.name.startswith("prefect"):
            return True
        return not record.getMessage().startswith("Finished in state Failed(")


_USER_ERRORS: Final = _UserErrorFilter()
_DRAINING_SERVICES: Final = ("EventsWorker", "APILogWorker")


@contextlib.contextmanager
def quiet_user_errors() -> Iterator[None]:
    """Keep user errors out of Prefect's console output for the block (see ``_UserErrorFilter``).

    Installs the filter on every console handler Prefect configured (the root logger's and its
    own loggers'); removes it afterwards.
    """
    from prefect.logging.handlers import PrefectConsoleHandler

    # Prefect's queue services log "Still processing items: N items remaining..." as a WARNING
    # while they drain at interpreter exit, after this block: progress noise, not a problem,
    # and it would be a second line under the command's one-line error.
    for service in _DRAINING_SERVICES:
        logging.getLogger(service).setLevel(logging.ERROR)
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    handlers = {
        id(h): h
        for lg in loggers
        for h in lg.handlers
        if isinstance(h, PrefectConsoleHandler | logging.StreamHandler)
    }
    for handler in handlers.values():
        handler.addFilter(_USER_ERRORS)
    try:
        yield
    finally:
        for handler in handlers.values():
            handler.removeFilter(_USER_ERRORS)


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
    task_run_name="extract-{job.name}",
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=_retry_io,
    cache_policy=NO_CACHE,
)
def extract(job: ExtractJob) -> Extract:
    """Run one source's extraction (retried on I/O errors, not on bad input).

    Args:
        job: The source's extraction job (:class:`twin.sync.ExtractJob`).

    Returns:
        The source's extract.

    """
    return job()


class PrefectExecutor:
    """Runs a phase's extractions as concurrent :func:`extract` tasks (inside a flow run)."""

    def run(self, jobs: Sequence[ExtractJob]) -> Iterator[Outcome]:
        """Submit every job, then yield each outcome in job order as it finishes."""
        futures = [extract.submit(job) for job in jobs]
        for job, future in zip(jobs, futures, strict=True):
            outcome = future.result(raise_on_failure=False)
            if isinstance(outcome, Extract | Exception):
                yield outcome
            else:
                yield TwinError(f"source {job.name!r}: extraction returned {outcome!r}")


def _final_state(report: dict[str, Any], extra: Sequence[str] = ()) -> State[Any]:
    """``Completed`` when every source is ok and no step failed, else ``Failed``; data: report."""
    problems = [
        f"{name} {r['status']}: {'; '.join(r.get('reasons') or [r.get('error') or '?'])}"
        for name, r in report["sources"].items()
        if r["status"] != "ok"
    ]
    problems += list(extra)
    if problems:
        message = f"sync run {report['run_id']}: {len(problems)} problem(s): " + " | ".join(
            problems
        )
        return Failed(message=message, data=report)
    return Completed(
        message=f"sync run {report['run_id']}: {len(report['sources'])} source(s) ok",
        data=report,
    )


def report_of(state: State[Any]) -> dict[str, Any]:
    """Return the run report a sync flow run ended with (Completed or Failed).

    Raises:
        TwinError: The flow run raised it (a user error: another sync holds the lake, a bad
            config) -- or any other exception the run raised.

    """
    data = state.result(raise_on_failure=False)
    if isinstance(data, BaseException):
        raise data
    if not isinstance(data, dict) or "sources" not in data:
        raise TwinError(f"the sync flow ended {state.type.value} without a report: {state.message}")
    return data


@flow(name="sync-sources", log_prints=True)
def sync_sources(
    config_path: str | None = None,
    lake_dir: str | None = None,
    only: list[str] | None = None,
) -> State[Any]:
    """Sync every enabled source into the lake (the loop of :func:`twin.sync.run_sync`).

    Args:
        config_path: The sync config file (the bundled default when None).
        lake_dir: The lake directory (``TWIN_LAKE`` or ``./lake`` when None).
        only: Sync only these sources.

    Returns:
        ``Completed`` or ``Failed`` (some source degraded or failed); its result is the report
        ``{"run_id", "status", "sources": {NAME: {rows_in, ..., status, reasons}}}``. Call with
        ``return_state=True`` and read it with :func:`report_of`.

    """
    config = load_config(config_path)
    report = run_sync(config, lake_dir, executor=PrefectExecutor(), progress=_notify, only=only)
    _publish(report.to_dict())
    return _final_state(report.to_dict())


def _publish(report: dict[str, Any]) -> None:
    """Attach the report to the flow run as a table artifact (best effort)."""
    try:
        from prefect.artifacts import create_table_artifact

        rows = [
            {
                "source": n,
                **{k: v for k, v in r.items() if k != "reasons"},
                "reasons": "; ".join(r["reasons"]),
            }
            for n, r in report["sources"].items()
        ]
        bad = sum(1 for r in report["sources"].values() if r["status"] != "ok")
        create_table_artifact(
            key="sync-report",
            table=rows,
            description=f"Sync run {report['run_id']}: {report['status']}, {bad} source(s) not ok",
        )
    except Exception:  # an artifact is a convenience; the report is returned regardless
        return


# ------------------------------------------------------------------ nightly steps
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


def _fidelity_step(report: dict[str, Any], lake_dir: str, out_dir: str) -> dict[str, Any]:
    nightly = nightly_fidelity(lake_dir, out_dir)
    return {"nightly": nightly, "drift": bool(nightly.get("drift", False))}


@dataclass(frozen=True)
class NightlyStep:
    """A step of the nightly flow after the sync.

    Attributes:
        name: The name the ``steps`` parameter uses.
        run: ``run(report, lake_dir, out_dir)`` returns entries to add to the run report; an
            exception is reported under ``<name>`` as ``{"error": ...}`` and fails the run.
        description: What it does.

    """

    name: str
    run: Callable[[dict[str, Any], str, str], dict[str, Any]]
    description: str


NIGHTLY_STEPS: Final[tuple[NightlyStep, ...]] = (
    NightlyStep(
        "fidelity",
        _fidelity_step,
        "recalibrate, replay the newest day, store its fidelity score, flag drift "
        "(report: `nightly`, `drift`)",
    ),
)
"""The nightly steps, in the order they run. Add a step here (not at run time)."""


def _steps(names: Sequence[str] | None) -> list[NightlyStep]:
    if names is None:
        return list(NIGHTLY_STEPS)
    known = {s.name: s for s in NIGHTLY_STEPS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"steps: unknown nightly step(s) {unknown}; known: {', '.join(known) or 'none'}"
        )
    return [s for s in NIGHTLY_STEPS if s.name in names]


@flow(name="nightly-sync")
def nightly_sync(
    config_path: str | None = None,
    lake_dir: str | None = None,
    steps: list[str] | None = None,
    out_dir: str | None = None,
) -> State[Any]:
    """Sync every source, then run the declared nightly steps; mark the run by the outcome.

    This is the nightly deployment. The sync runs as a subflow (:func:`sync_sources`); then each
    step of :data:`NIGHTLY_STEPS` chosen by *steps* runs on the synced lake (also after a
    partly failed sync: the lake holds every source that loaded). A step's failure is reported
    under its name, never raised.

    Args:
        config_path: The sync config file (the bundled default when None).
        lake_dir: The lake directory.
        steps: Names of the nightly steps to run (all of :data:`NIGHTLY_STEPS` when None;
            ``[]`` for none).
        out_dir: Where the steps write their outputs (default ``<lake>/../out/nightly``).

    Returns:
        ``Completed``, or ``Failed`` when a source is degraded or failed or a step failed; the
        result is the sync report plus the steps' entries (read it with :func:`report_of`).

    """
    chosen = _steps(steps)
    report = report_of(sync_sources(config_path=config_path, lake_dir=lake_dir, return_state=True))
    lake = str(Lake(lake_dir).root)
    target = out_dir or str(Path(lake).resolve().parent / "out" / "nightly")
    failures: list[str] = []
    for step in chosen:
        try:
            report.update(step.run(report, lake, target))
        except Exception as exc:  # reported in the run report; the synced lake stays as it is
            message = exc.message if isinstance(exc, TwinError) else f"{type(exc).__name__}: {exc}"
            report[step.name] = {"error": message}
            failures.append(f"step {step.name} failed: {message}")
    return _final_state(report, failures)


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
    :func:`flows.server.prefect_api`, which dies with this process); its UI shows the runs.
    SIGTERM stops it like Ctrl-C.

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

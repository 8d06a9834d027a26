"""The Prefect API a command needs, started so that it dies with the command.

Prefect's own temporary API (started by the first flow run of a process when no
``PREFECT_API_URL`` is set) is a plain child process: it survives a SIGKILL of its parent and keeps
listening. :func:`prefect_api` starts the server itself instead, in its own session (process
group) and with a parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, set in the
child before it runs the server): when the command exits, however it exits, the server goes too.
A normal exit stops the whole process group (SIGTERM, then SIGKILL).

The parent-death signal fires when the *thread* that started the server ends, so call
:func:`prefect_api` from a thread that lives as long as the server is needed (the main thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

from twin.errors import TwinError

__all__ = ["PR_SET_PDEATHSIG", "die_with_parent", "free_port", "prefect_api"]

PR_SET_PDEATHSIG: Final = 1
"""``prctl`` option: the signal the kernel sends a process when its parent dies (Linux)."""


def die_with_parent(parent: int) -> Callable[[], None]:
    """Return a ``preexec_fn`` that makes the child get SIGKILL when *parent* dies.

    Runs in the child between ``fork`` and ``exec`` (the setting survives ``exec``). When the
    parent already died in between, the child exits at once. Without ``prctl`` (not Linux) the
    hook does nothing and the normal-exit cleanup of :func:`prefect_api` still applies.
    """
    try:
        libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl if libc is not None and hasattr(libc, "prctl") else None
    except OSError:  # pragma: no cover - no C library to load
        prctl = None

    def hook() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return hook


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_command(port: int, *, ui: bool) -> tuple[list[str], dict[str, str]]:
    if ui:  # the full server: API, scheduler and UI
        exe = Path(sys.executable).with_name("prefect")
        cmd = [str(exe), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        return cmd, dict(os.environ)
    # the same server Prefect starts as its temporary API (no UI)
    import prefect

    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(prefect.__file__).resolve().parent.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    return cmd, env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # anything the server left in its group
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def prefect_api(
    port: int | None = 4200, *, ui: bool = True, timeout: float = 120.0
) -> Iterator[str]:
    """Make sure a Prefect API is reachable for the block; yield its URL.

    When ``PREFECT_API_URL`` is set it is used as it is. Otherwise this starts a local server on
    ``127.0.0.1:<port>`` (nothing leaves the machine) that dies with this process (see the
    module docstring), points ``PREFECT_API_URL`` at it for the block, and stops it afterwards.

    Args:
        port: Port of the local server (a free one when None).
        ui: Start the full ``prefect server start`` (API, scheduler, UI); False starts the
            lighter API Prefect itself uses as its temporary server.
        timeout: Seconds to wait for it to answer.

    Raises:
        TwinError: The server did not come up (port in use, ...).

    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    existing = PREFECT_API_URL.value()
    if existing:
        yield str(existing)
        return
    port = port if port is not None else free_port()
    url = f"http://127.0.0.1:{port}/api"
    cmd, env = _server_command(port, ui=ui)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stopped as a whole
            preexec_fn=die_with_parent(os.getpid()),
        )
        try:
            _wait_healthy(proc, url, log, timeout)
            with temporary_settings(updates={PREFECT_API_URL: url}):
                try:
                    yield url
                finally:
                    _drain_to(url)
        finally:
            _stop(proc)


def _drain_to(url: str) -> None:
    """Send the logs and events Prefect still queues for *url* before its server stops.

    Otherwise its background workers keep trying a closed port at exit ("Error logging to
    API", long retries).
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=20)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: IO[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace")[-1500:]
            raise TwinError(
                f"the local Prefect server on {url.removesuffix('/api')} exited (code "
                f"{proc.returncode}); is the port in use? Use --port. Log:\n{tail}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TwinError(f"the local Prefect server on {url} did not answer in {timeout:.0f} s")
        time.sleep(0.25)

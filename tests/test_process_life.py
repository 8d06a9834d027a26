"""Clean process life: servers die with their command, kills are recorded, user errors are one line.

Every test runs the real ``twin`` command in a subprocess with no ``PREFECT_API_URL`` (so it starts
its own Prefect server) and a private ``PREFECT_HOME``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from twin.sources import load_config
from twin.store import Lake
from twin.store.lake import CRASH_ENV
from twin.sync import MARKER, run_sync

TWIN = shutil.which("twin", path=str(Path(sys.executable).parent)) or "twin"
GONE_WITHIN = 10.0  # seconds the issue allows a server to outlive its killed command


def twin_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", CRASH_ENV)}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of *pid* from /proc, or None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of *pid* with its command line (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = st[1]
    found: dict[int, str] = {}
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier and p not in found}
        for p in frontier:
            try:
                found[p] = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                found[p] = "?"
    return found


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"  # a zombie has exited (only its entry is left)


def assert_all_gone(pids: dict[int, str], port: int | None = None) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left and (port is None or not listening(port)):
            return
        time.sleep(0.2)
    left = {p: c for p, c in pids.items() if alive(p)}
    pytest.fail(f"still alive {GONE_WITHIN:.0f} s after the kill: {left}, port {port} open")


def write_real_config(tmp_path: Path, data_dir: Path) -> Path:
    cfg = tmp_path / "sources.yaml"
    sffd = data_dir / "sanfrancisco" / "sffd_calls_for_service_2020-04-07_20.csv.gz"
    cfg.write_text(
        "cities:\n"
        "  - {name: seattle, tz: America/Los_Angeles, bbox: [-122.5, 47.45, -122.2, 47.78]}\n"
        "  - {name: sanfrancisco, tz: America/Los_Angeles, bbox: [-122.55, 37.68, -122.34, "
        "37.84]}\n"
        "sources:\n"
        f"  - {{name: spd_beats, adapter: spd_beats, city: seattle,\n"
        f"     path: {data_dir / 'seattle' / 'spd_beats_2018_present.geojson'}}}\n"
        f"  - {{name: sffd_calls, adapter: sffd_calls, city: sanfrancisco,\n"
        f"     path: {sffd}}}\n"
    )
    return cfg


@pytest.mark.e2e
@pytest.mark.slow
def test_sigkilled_serve_takes_its_prefect_server_with_it(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [TWIN, "serve", "--lake", str(tmp_path / "lake"), "--port", str(port)],
        env=twin_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # "Prefect API at ..." once the server answers
            if "Prefect API at" in line:
                break
        assert f"127.0.0.1:{port}/api" in line, line
        servers = descendants(proc.pid)
        assert any("prefect" in c and "server" in c for c in servers.values()), servers
        assert listening(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert_all_gone(servers, port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.e2e
@pytest.mark.slow
def test_sync_sigkilled_mid_run_loses_its_server_and_the_rerun_records_it(
    tmp_path: Path, data_dir: Path
) -> None:
    cfg = write_real_config(tmp_path, data_dir)
    lake = tmp_path / "lake"
    # a real SIGKILL of `twin sync` right before its second commit (sffd_calls')
    proc = subprocess.Popen(
        [TWIN, "sync", "--config", str(cfg), "--lake", str(lake), "--json"],
        env=twin_env(tmp_path, **{CRASH_ENV: "commit:2"}),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr.txt").open("w"),
    )
    seen: dict[int, str] = {}
    while proc.poll() is None:  # note every process it starts (its Prefect server)
        for pid, cmd in descendants(proc.pid).items():
            if cmd or pid not in seen:  # a dying process reads as '': keep what it was
                seen[pid] = cmd
        time.sleep(0.05)
    assert proc.returncode == -signal.SIGKILL
    assert any("uvicorn" in c and "prefect" in c for c in seen.values()), (
        seen,
        (tmp_path / "stderr.txt").read_text(),
    )
    assert_all_gone(seen)
    assert (lake / MARKER).exists()
    report = run_sync(load_config(cfg), lake, durable=False)  # the same loop `twin sync` runs
    ((killed, sources),) = [(i["run_id"], i["sources"]) for i in report.interrupted]
    assert sources == ["sffd_calls"]
    rows = (
        Lake(lake)
        .query("SELECT source, status, error FROM runs WHERE run_id = ? ORDER BY source", [killed])
        .to_pylist()
    )
    assert [(r["source"], r["status"]) for r in rows] == [
        ("sffd_calls", "interrupted"),
        ("spd_beats", "ok"),
    ]
    assert "sync killed mid-run" in rows[0]["error"]
    assert report.sources["sffd_calls"].status == "ok"


def tiny_config(tmp_path: Path) -> Path:
    """A config whose only source uses a real adapter on a file the test writes."""
    (tmp_path / "data").mkdir(exist_ok=True)
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(
        "data_dir: data\n"
        "cities:\n"
        "  - {name: seattle, tz: America/Los_Angeles, bbox: [-122.5, 47.4, -122.2, 47.8]}\n"
        "sources:\n"
        "  - {name: fremont_counter, adapter: fremont_counter, path: fremont.csv, city: seattle}\n"
        "  - {name: gone, adapter: fremont_counter, path: gone.csv, city: seattle}\n"
    )
    (tmp_path / "data" / "fremont.csv").write_text(
        "Date,Fremont Bridge East Sidewalk,Fremont Bridge West Sidewalk\n"
        + "".join(f"01/0{d}/2019 0{h}:00:00 PM,{d + h},{2 * h}\n" for d in (1, 2) for h in (1, 2))
    )
    return cfg


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.e2e
@pytest.mark.slow
def test_user_errors_print_one_line_and_no_traceback(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    lake = tmp_path / "lake"
    args = [TWIN, "sync", "--config", str(cfg), "--lake", str(lake), "--json"]
    # a source that cannot be read: the report on stdout, one line on stderr, exit 1
    done = subprocess.run(args, env=twin_env(tmp_path), capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    (line,) = stderr_lines(done.stderr)
    assert line.startswith("error: gone failed: source 'gone': input file "), line
    assert '"fremont_counter"' in done.stdout
    # a losing concurrent sync: exactly one line, no traceback from any layer (Prefect's too)
    with Lake(lake).lock():
        lost = subprocess.run(args, env=twin_env(tmp_path), capture_output=True, text=True)
    assert lost.returncode == 2
    assert "Traceback" not in lost.stderr
    assert len(stderr_lines(lost.stderr)) == 1, lost.stderr
    (line,) = stderr_lines(lost.stderr)
    assert line == (
        f"error: {lake}: another sync is writing to this lake; wait for it to finish or use "
        "another --lake directory"
    )
    assert lost.stdout == ""

"""Build and serve the dashboard app.

The app is a Dash multi-page app (``use_pages=True``; pages in :mod:`dashboards.pages`). It
serves its own JavaScript (``serve_locally=True``), loads nothing from a CDN and draws maps
without tiles, so no request leaves the machine. It binds 127.0.0.1 by default; to bind any
other interface it needs a token (``TWIN_DASH_TOKEN``), which every request must then present
as HTTP basic auth (any user name, the token as password) or as ``Authorization: Bearer``.

One app per process: Dash keeps its page registry and global callbacks in module state.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import os
from collections.abc import Callable
from pathlib import Path

import dash
import flask
from dash import Dash, dcc, html
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from dashboards.context import SETTINGS_KEY, Settings
from dashboards.data import LakeReader
from dashboards.ids import NAV
from twin.errors import ConfigError, TwinError

__all__ = [
    "TOKEN_ENV",
    "check_bind",
    "check_lake",
    "create_app",
    "is_loopback",
    "serve",
    "token_matches",
]

TOKEN_ENV = "TWIN_DASH_TOKEN"
_HERE = Path(__file__).resolve().parent
_log = logging.getLogger("dashboards")


def is_loopback(host: str) -> bool:
    """Return whether *host* names only this machine (``127.0.0.0/8``, ``::1``, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the dashboard beyond this machine without a token.

    Raises:
        ConfigError: When *host* is not a loopback address and *token* is empty.

    """
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"--host {host} would expose the dashboard beyond this machine; set "
            f"{TOKEN_ENV} to a secret token (clients then log in with it as the password), "
            "or use --host 127.0.0.1"
        )


def token_matches(authorization: str | None, token: str) -> bool:
    """Return whether an ``Authorization`` header carries *token* (basic password or bearer)."""
    if not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        given = value.strip()
    elif scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        given = decoded.partition(":")[2]
    else:
        return False
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def _auth_hook(token: str) -> Callable[[], flask.Response | None]:
    def require_token() -> flask.Response | None:
        if token_matches(flask.request.headers.get("Authorization"), token):
            return None
        return flask.Response(
            "zhian-twin dashboard: log in with the token (TWIN_DASH_TOKEN) as the password.\n",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="zhian-twin", charset="UTF-8"'},
        )

    return require_token


def _shell() -> html.Div:
    pages = sorted(dash.page_registry.values(), key=lambda p: (p.get("order") or 0, p["name"]))
    links = [dcc.Link(p["name"], href=p["relative_path"], className="nav-link") for p in pages]
    return html.Div(
        [
            html.Header(
                [html.Span("zhian-twin", className="brand"), html.Nav(links, id=NAV)],
                className="topbar",
            ),
            html.Main(dash.page_container, className="content"),
        ]
    )


def check_lake(lake: Path) -> None:
    """Refuse a lake path that does not exist (a typo must not look like "not synced yet").

    An existing but empty folder is fine: pages then say which command fills it.

    Raises:
        ConfigError: When *lake* does not exist or is not a folder.

    """
    path = Path(lake)
    if not path.exists():
        raise ConfigError(
            f"--lake {path}: no such folder. Check the path (the default is ./lake or "
            f"TWIN_LAKE), or create the lake with `twin sync --lake {path}`"
        )
    if not path.is_dir():
        raise ConfigError(f"--lake {path} is a file, not a lake folder")


def _on_error(exc: Exception) -> None:
    """Last resort for a callback error: one log line, the outputs left as they were."""
    _log.error("callback failed: %s: %s", type(exc).__name__, exc)


def _bad_request(exc: Exception) -> flask.Response | HTTPException:
    """Answer a malformed callback request with 400 (never 500); other errors pass through."""
    if isinstance(exc, HTTPException):
        return exc
    _log.error("request %s failed: %s: %s", flask.request.path, type(exc).__name__, exc)
    status = 400 if flask.request.path.startswith("/_dash-") else 500
    return flask.Response(
        "zhian-twin dashboard: this request could not be understood.\n"
        if status == 400
        else "zhian-twin dashboard: internal error (see the server log).\n",
        status=status,
        mimetype="text/plain",
    )


def create_app(lake: Path, results: Path, token: str | None = None) -> Dash:
    """Build the dashboard app.

    Args:
        lake: The lake directory to read; it must exist (it may be empty: pages say so).
        results: The folder of simulation results (subfolders with ``summary.json``).
        token: When set, every request must present it (see the module docstring).

    Returns:
        The Dash app; its Flask server is ``app.server``.

    Raises:
        ConfigError: When *lake* does not exist.

    """
    check_lake(lake)
    server = flask.Flask("dashboards", root_path=str(_HERE))
    server.register_error_handler(Exception, _bad_request)
    server.config[SETTINGS_KEY] = Settings(lake=LakeReader(Path(lake)), results=Path(results))
    if token:
        server.before_request(_auth_hook(token))
    app = Dash(
        "dashboards",
        server=server,  # type: ignore[arg-type]  # Dash accepts a Flask app
        use_pages=True,
        pages_folder="pages",
        assets_folder=str(_HERE / "assets"),
        serve_locally=True,
        title="zhian-twin",
        update_title="",
        suppress_callback_exceptions=True,
        on_error=_on_error,
    )
    app.layout = _shell
    return app


def warm(app: Dash) -> None:
    """Do the first-use work before the first request: plotly, lake rollups, results, shapes.

    Plotly: the figure classes and colour scales it imports on first use
    (:func:`~dashboards.figures.load_plotly`). Results: each run's scenario names,
    ``summary.json``, KPI and checkpoint tables; each sweep's comparison and per-zone table.

    Pages then answer from memory; a later sync or result is picked up on the next request.
    """
    from dashboards.figures import load_plotly

    load_plotly()
    settings = app.server.config[SETTINGS_KEY]
    try:
        rollups = settings.lake.rollups()
    except TwinError as exc:  # an unreadable lake: the pages show the message
        _log.warning("lake not readable yet: %s", exc)
        return
    from dashboards.pages.map import city_context
    from dashboards.results import run_breakdown, scan

    with app.server.test_request_context():
        index = scan(settings.results)
        for run in index.runs:
            try:
                info = run.info(index.roots)
                _ = run.summary  # a city's summary.json is megabytes of JSON
                run.checkpoints_hourly()
                if (run.path / "kpis.parquet").is_file():
                    run_breakdown(run, info)
            except TwinError as exc:
                _log.warning("result %s: %s", run.name, exc)
        for sweep in index.sweeps:
            try:
                sweep.differences()
                _ = sweep.zones
            except TwinError as exc:
                _log.warning("sweep %s: %s", sweep.name, exc)
        for city in rollups.cities:
            city_context(rollups, city)


def serve(
    lake: Path,
    results: Path,
    host: str = "127.0.0.1",
    port: int = 8050,
    token: str | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the dashboard until interrupted.

    Args:
        lake: The lake directory.
        results: The results folder.
        host: Interface to bind; anything but loopback needs *token*.
        port: TCP port; 0 picks a free one (the URL announced says which).
        token: The access token; default ``TWIN_DASH_TOKEN`` from the environment.
        announce: Called once with the URL when the server listens.

    Raises:
        ConfigError: When binding beyond loopback without a token, or the port is taken.

    """
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    check_bind(host, token)
    app = create_app(lake, results, token=token)
    warm(app)
    try:
        server = make_server(host, port, app.server, threaded=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port"
        ) from exc
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    announce(f"Dashboard on http://{shown}:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()

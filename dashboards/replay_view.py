"""One replayed day as moving pictures: what is on the map at any minute, real and twin.

:func:`load_replay` reads a ``twin replay`` folder once (``replay.parquet``: one row per
incident and replication with the simulated life cycle beside the actual one;
``replay_summary.json``) plus the incidents' real coordinates from the lake, and keeps numpy
arrays. :meth:`ReplayDay.at` then answers "what is where at minute *t*" without touching a file:

- Real side: each call appears at its actual received time (the event time where the source
  has no received time), is *answered* from its actual on-scene time, *closed* after its
  actual on-scene duration.
- Twin side: the same calls with the twin's times; every dispatched unit moves in a straight
  line from its post to the call between en route and on scene (positions interpolated), stays
  while on scene, and drives back over the same time. Units start each trip from their post:
  the replay records do not say where a unit was when dispatched.

Only the first replication is drawn; times are minutes of the local day (0 = midnight).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from dashboards.data import LakeReader, city_tz
from dashboards.results import Run
from dashboards.scenario_info import ScenarioInfo
from twin.errors import DataError

__all__ = ["ReplayDay", "load_replay"]


@dataclass
class ReplayDay:
    """Arrays of one replayed day (minute 0 = local midnight of the first day).

    Attributes:
        title: "sanfrancisco fire 2020-04-10 under sanfrancisco_baseline".
        minutes: Length of the replayed window in minutes.
        lon, lat: Position of each call (real coordinates; zone centre where unknown).
        label: Hover text of each call.
        real_t0, real_on, real_clr: Real received, on-scene and cleared minutes (NaN unknown).
        sim_t0, sim_on, sim_clr: The twin's received, on-scene and cleared minutes.
        unit_ids: Units of the scenario; post_lon/post_lat their posts.
        a_unit, a_enr, a_on, a_clr, a_back: Per dispatch: unit index, en route, on scene,
            cleared, back at post (minutes); a_lon/a_lat the call's position.
        notes: What the picture rests on.

    """

    title: str
    minutes: float
    lon: np.ndarray
    lat: np.ndarray
    label: np.ndarray
    real_t0: np.ndarray
    real_on: np.ndarray
    real_clr: np.ndarray
    sim_t0: np.ndarray
    sim_on: np.ndarray
    sim_clr: np.ndarray
    unit_ids: list[str]
    post_lon: np.ndarray
    post_lat: np.ndarray
    a_unit: np.ndarray
    a_enr: np.ndarray
    a_on: np.ndarray
    a_clr: np.ndarray
    a_back: np.ndarray
    a_lon: np.ndarray
    a_lat: np.ndarray
    notes: list[str]

    def incidents_at(self, t: float, side: str) -> pd.DataFrame:
        """Return the calls visible at minute *t* on one side (``real``/``twin``), with state."""
        t0, on, clr = (
            (self.real_t0, self.real_on, self.real_clr)
            if side == "real"
            else (self.sim_t0, self.sim_on, self.sim_clr)
        )
        seen = t0 <= t
        unknown = ~np.isfinite(on)
        state = np.where(
            unknown,
            "reported (no on-scene time)",
            np.where(~(on <= t), "waiting", np.where(clr <= t, "closed", "answered")),
        )
        # closed calls fade: those closed over an hour ago leave the map, and so do calls
        # whose outcome the data do not say, an hour after they were reported
        gone = ((state == "closed") & (clr < t - 60)) | (unknown & (t0 < t - 60))
        keep = seen & ~gone
        return pd.DataFrame(
            {
                "lon": self.lon[keep],
                "lat": self.lat[keep],
                "state": state[keep],
                "text": self.label[keep],
            }
        )

    def units_at(self, t: float) -> pd.DataFrame:
        """Every unit's position and state at minute *t* (twin side)."""
        n = len(self.unit_ids)
        lon = self.post_lon.copy()
        lat = self.post_lat.copy()
        state = np.full(n, "at post", dtype=object)
        active = (self.a_enr <= t) & (t < self.a_back)
        idx = np.nonzero(active)[0]
        for i in idx:  # at most one active dispatch per unit at a time; few per minute
            u = int(self.a_unit[i])
            plon, plat = self.post_lon[u], self.post_lat[u]
            if t < self.a_on[i]:
                span = max(self.a_on[i] - self.a_enr[i], 1e-9)
                f = (t - self.a_enr[i]) / span
                lon[u] = plon + f * (self.a_lon[i] - plon)
                lat[u] = plat + f * (self.a_lat[i] - plat)
                state[u] = "en route"
            elif t < self.a_clr[i]:
                lon[u], lat[u] = self.a_lon[i], self.a_lat[i]
                state[u] = "on scene"
            else:
                span = max(self.a_back[i] - self.a_clr[i], 1e-9)
                f = (t - self.a_clr[i]) / span
                lon[u] = self.a_lon[i] + f * (plon - self.a_lon[i])
                lat[u] = self.a_lat[i] + f * (plat - self.a_lat[i])
                state[u] = "returning"
        ok = np.isfinite(lon) & np.isfinite(lat)
        return pd.DataFrame(
            {
                "lon": lon[ok],
                "lat": lat[ok],
                "state": state[ok],
                "text": np.asarray([f"unit {u}" for u in self.unit_ids], dtype=object)[ok],
            }
        )

    def kpis_at(self, t: float) -> dict[str, dict[str, Any]]:
        """Return running figures up to minute *t*: calls, answered, waiting now, mean response."""
        out: dict[str, dict[str, Any]] = {}
        for side, t0, on in (
            ("real", self.real_t0, self.real_on),
            ("twin", self.sim_t0, self.sim_on),
        ):
            seen = t0 <= t
            answered = seen & (on <= t)
            resp = (on - t0)[answered]
            resp = resp[np.isfinite(resp)]
            out[side] = {
                "calls": int(seen.sum()),
                "answered": int(answered.sum()),
                "waiting": int((seen & ~(on <= t) & np.isfinite(on)).sum()),
                "response_mean": float(resp.mean()) if resp.size else None,
                "response_n": int(resp.size),
            }
        busy = (self.a_enr <= t) & (t < self.a_clr)
        out["twin"]["units_busy"] = len(set(self.a_unit[busy].tolist()))
        out["twin"]["units"] = len(self.unit_ids)
        return out


_CACHE: dict[tuple[str, float], ReplayDay] = {}
_LOCK = threading.Lock()


def load_replay(run: Run, info: ScenarioInfo | None, lake: LakeReader) -> ReplayDay:
    """Read a replay folder into a :class:`ReplayDay` (cached by folder and mtime).

    Raises:
        DataError: When the folder is not a replay or its scenario cannot be found.

    """
    key = (str(run.path), run.mtime)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    day = _load(run, info, lake)
    with _LOCK:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = day
    return day


def _load(run: Run, info: ScenarioInfo | None, lake: LakeReader) -> ReplayDay:
    path = run.path / "replay.parquet"
    meta_path = run.path / "replay_summary.json"
    if not path.is_file() or not meta_path.is_file():
        raise DataError(
            f"{run.path} is not a replay (no replay.parquet); make one with "
            "`twin replay SCENARIO --start DAY --end DAY --out DIR`"
        )
    if info is None:
        raise DataError(f"the scenario {run.scenario!r} of {run.path} was not found")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    rp = meta.get("replay") or {}
    t_zero = pd.Timestamp(rp["t_zero_utc"])
    start = pd.Timestamp(str(rp["start"]))
    end = pd.Timestamp(str(rp["end"]))
    cols = [
        "replication",
        "zone",
        "unit",
        "received",
        "enroute",
        "onscene",
        "cleared",
        "incident_id",
        "received_utc",
        "event_utc",
        "actual_response_min",
        "actual_service_min",
    ]
    has_source = "source" in pq.read_schema(path).names  # replays written before it lack it
    rec = pd.read_parquet(path, columns=cols + (["source"] if has_source else []))
    rec = rec[rec["replication"] == rec["replication"].min()]
    # the day(s) shown: from local midnight of start; t_zero is midnight of the warm-up day
    tz = city_tz(str(rp.get("city", info.city)))
    first_midnight = start.tz_localize(tz).tz_convert("UTC")
    offset = float((first_midnight - t_zero).total_seconds() / 60)
    minutes = 1440.0 * ((end - start).days + 1)
    rec = rec[(rec["received"] >= offset) & (rec["received"] < offset + minutes)].reset_index(
        drop=True
    )
    if rec.empty:
        raise DataError(f"{path} has no calls in the replayed window")
    ids = rec["incident_id"].astype(str).tolist()
    times = pd.to_datetime(rec["event_utc"], utc=True)
    # naming the sources lets DuckDB skip the other sources' partitions unopened (~3x faster)
    sources = sorted(rec["source"].dropna().astype(str).unique()) if has_source else []
    only = f" AND source IN ({', '.join('?' * len(sources))})" if sources else ""
    window = lake.query(
        "SELECT incident_id, lon, lat, coalesce(call_type, call_group, source) AS what "
        "FROM incidents WHERE event_time BETWEEN ? AND ?" + only,
        [times.min().to_pydatetime(), times.max().to_pydatetime(), *sources],
    )
    coords = window[window["incident_id"].isin(ids)].drop_duplicates("incident_id")
    coords = coords.set_index("incident_id")
    lon = rec["incident_id"].map(coords["lon"]).astype(float).to_numpy()
    lat = rec["incident_id"].map(coords["lat"]).astype(float).to_numpy()
    bad = ~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lon) < 1e-6)
    zx = rec["zone"].map(lambda z: info.zone_xy.get(str(z), (np.nan, np.nan)))
    lon = np.where(bad, [p[0] for p in zx], lon)
    lat = np.where(bad, [p[1] for p in zx], lat)
    what = rec["incident_id"].map(coords["what"]).fillna("call").astype(str)
    label = (what + " — " + rec["zone"].map(info.zone_label).astype(str)).to_numpy(dtype=object)
    real_src = pd.to_datetime(rec["received_utc"], utc=True).fillna(
        pd.to_datetime(rec["event_utc"], utc=True)
    )
    real_t0 = ((real_src - t_zero).dt.total_seconds() / 60 - offset).to_numpy(dtype=float)
    real_on = real_t0 + rec["actual_response_min"].astype(float).to_numpy()
    real_clr = real_on + rec["actual_service_min"].astype(float).to_numpy()
    sim = {
        c: rec[c].astype(float).to_numpy() - offset
        for c in ("received", "enroute", "onscene", "cleared")
    }
    unit_ids = sorted(info.unit_post)
    index = {u: i for i, u in enumerate(unit_ids)}
    post = [info.zone_xy.get(info.unit_post[u], (np.nan, np.nan)) for u in unit_ids]
    disp = rec["unit"].notna() & np.isfinite(sim["onscene"])
    a_unit = rec.loc[disp, "unit"].astype(str).map(index)
    keep = a_unit.notna().to_numpy()
    sel = np.nonzero(disp.to_numpy())[0][keep]
    a_enr = np.where(np.isfinite(sim["enroute"][sel]), sim["enroute"][sel], sim["received"][sel])
    a_on = sim["onscene"][sel]
    a_clr = np.where(np.isfinite(sim["cleared"][sel]), sim["cleared"][sel], a_on)
    notes = [
        f"{len(rec):,} calls; real positions from the lake."
        + (f" ({int(bad.sum()):,} at their zone's centre)" if bad.any() else ""),
        "Twin units drive straight from their post to the call and back (positions "
        "interpolated between dispatch records).",
        f"Real response known for {int(np.isfinite(real_on).sum()):,} calls.",
    ]
    city = str(rp.get("city", info.city))
    return ReplayDay(
        title=f"{city} {rp.get('agency', '')} {rp['start']} under {run.scenario}".replace(
            "  ", " "
        ),
        minutes=minutes,
        lon=lon,
        lat=lat,
        label=label,
        real_t0=real_t0,
        real_on=real_on,
        real_clr=real_clr,
        sim_t0=sim["received"],
        sim_on=sim["onscene"],
        sim_clr=sim["cleared"],
        unit_ids=unit_ids,
        post_lon=np.asarray([p[0] for p in post], dtype=float),
        post_lat=np.asarray([p[1] for p in post], dtype=float),
        a_unit=a_unit.to_numpy()[keep].astype(int),
        a_enr=a_enr,
        a_on=a_on,
        a_clr=a_clr,
        a_back=a_clr + (a_on - a_enr),
        a_lon=lon[sel],
        a_lat=lat[sel],
        notes=notes,
    )

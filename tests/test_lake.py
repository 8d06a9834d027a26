"""The Parquet lake: merge by key, idempotency, atomic commits, views, quarantine, cleanup."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import DataError, TwinError
from twin.schemas import INCIDENTS, QUARANTINE, RUNS, SCHEMAS
from twin.store import Lake, query

UTC = dt.UTC


def incidents(rows: list[tuple[int, int, str]], source: str = "src") -> pa.Table:
    """Incidents from (id, day of Jan 2020, call_type)."""
    n = len(rows)
    return pa.Table.from_pydict(
        {
            "incident_id": [f"{source}:{i}" for i, _, _ in rows],
            "source": [source] * n,
            "source_id": [str(i) for i, _, _ in rows],
            "city": ["seattle"] * n,
            "agency": ["fire"] * n,
            "call_type": [c for _, _, c in rows],
            "call_group": [None] * n,
            "priority": [1] * n,
            "priority_raw": ["1"] * n,
            "event_time": [dt.datetime(2020, 1, d, 12, tzinfo=UTC) for _, d, _ in rows],
            "received": [dt.datetime(2020, 1, d, 12, tzinfo=UTC) for _, d, _ in rows],
            "dispatched": [None] * n,
            "enroute": [None] * n,
            "onscene": [None] * n,
            "cleared": [None] * n,
            "lon": [-122.3] * n,
            "lat": [47.6] * n,
            "zone": [None] * n,
            "district": [None] * n,
        },
        schema=INCIDENTS,
    )


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file in the lake except the lock."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "_lock"
    }


def upsert(lake: Lake, table: str, source: str, data: pa.Table) -> tuple[int, bool]:
    with lake.lock():
        txn = lake.begin()
        n = txn.upsert(table, source, data)
        return n, txn.commit()


def stored(lake: Lake) -> dict[str, tuple[int, str]]:
    rows = lake.query("SELECT incident_id, received, call_type FROM incidents").to_pylist()
    return {r["incident_id"]: (r["received"].day, r["call_type"]) for r in rows}


@pytest.mark.exact
def test_same_input_twice_changes_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    data = incidents([(1, 1, "a"), (2, 1, "b"), (3, 2, "c")])
    assert upsert(lake, "incidents", "src", data) == (3, True)
    before = snapshot(lake.root)
    assert upsert(lake, "incidents", "src", data) == (0, False)
    assert snapshot(lake.root) == before
    parts = sorted(p.relative_to(lake.root).parent.as_posix() for p in lake.files("incidents"))
    assert parts == [
        "incidents/source=src/date=2020-01-01",
        "incidents/source=src/date=2020-01-02",
    ]
    assert stored(lake) == {"src:1": (1, "a"), "src:2": (1, "b"), "src:3": (2, "c")}


@pytest.mark.exact
def test_changed_record_replaces_older_version_even_across_partitions(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    upsert(lake, "incidents", "src", incidents([(1, 1, "a"), (2, 1, "b"), (3, 2, "c")]))
    untouched = lake.root / next(
        f for f in lake._manifest().files["incidents"] if "date=2020-01-02" in f
    )
    mtime = untouched.stat().st_mtime_ns
    # 1 unchanged, 2 changes type and moves from day 1 to day 3, 4 is new
    n, changed = upsert(
        lake, "incidents", "src", incidents([(1, 1, "a"), (2, 3, "x"), (4, 3, "d")])
    )
    assert (n, changed) == (2, True)
    assert stored(lake) == {
        "src:1": (1, "a"),
        "src:2": (3, "x"),
        "src:3": (2, "c"),
        "src:4": (3, "d"),
    }
    assert untouched.exists()
    assert untouched.stat().st_mtime_ns == mtime  # a partition not touched is not rewritten
    assert len(lake.files("incidents")) == 3
    # every file on disk is referenced: superseded versions were removed
    on_disk = {p for p in lake.root.rglob("*.parquet")}
    assert on_disk == set(lake.files("incidents"))


@pytest.mark.exact
def test_last_row_of_a_key_wins_within_one_batch(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    n, _ = upsert(lake, "incidents", "src", incidents([(1, 1, "a"), (1, 2, "b"), (2, 1, "c")]))
    assert n == 2
    assert stored(lake) == {"src:1": (2, "b"), "src:2": (1, "c")}


@pytest.mark.exact
def test_every_canonical_table_has_a_view_even_when_empty(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "never-written")
    con = lake.connect()
    for name, schema in SCHEMAS.items():
        result = con.sql(f"SELECT * FROM {name}").to_arrow_table()
        assert result.num_rows == 0
        assert result.schema.names == schema.names
    assert query("SELECT count(*) AS n FROM incidents", lake_dir=lake.root).to_pylist() == [
        {"n": 0}
    ]
    assert not lake.root.exists()  # reading never creates the lake


@pytest.mark.exact
def test_views_return_canonical_types(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    upsert(lake, "incidents", "src", incidents([(1, 1, "a")]))
    result = lake.query("SELECT * FROM incidents")
    assert result.schema.names == INCIDENTS.names
    assert result.schema.field("received").type == pa.timestamp("us", tz="UTC")
    assert result.schema.field("priority").type == pa.int16()
    cursor = lake.connect().cursor()  # readers share one connection through cursors
    assert cursor.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
    assert cursor.execute("SELECT count(*) FROM incidents").fetchall() == [(1,)]


def quarantine_rows(run_id: str, rows: list[tuple[str, int, str]], source: str = "src") -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "source": source,
                "run_id": run_id,
                "file": f,
                "row_number": n,
                "raw": f'{{"row": {n}}}',
                "reason": r,
                "detail": None,
            }
            for f, n, r in rows
        ],
        schema=QUARANTINE,
    )


def replace_quarantine(lake: Lake, rows: pa.Table, files: list[str]) -> bool:
    with lake.lock():
        txn = lake.begin()
        txn.replace_quarantine("src", rows, files)
        return txn.commit()


@pytest.mark.exact
def test_quarantine_rerun_keeps_first_run_and_replaces_per_file(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    first = [("a.csv", 3, "missing_id"), ("a.csv", 7, "missing_time"), ("b.csv", 1, "missing_id")]
    assert replace_quarantine(lake, quarantine_rows("r1", first), ["a.csv", "b.csv"])
    before = snapshot(lake.root)
    # the same input again under a new run id rewrites nothing
    assert not replace_quarantine(lake, quarantine_rows("r2", first), ["a.csv", "b.csv"])
    assert snapshot(lake.root) == before
    # a.csv was fixed at row 7 and gained row 9; b.csv was not read this time
    second = [("a.csv", 3, "missing_id"), ("a.csv", 9, "missing_time")]
    assert replace_quarantine(lake, quarantine_rows("r3", second), ["a.csv"])
    rows = lake.query(
        "SELECT file, row_number, run_id FROM quarantine ORDER BY file, row_number"
    ).to_pylist()
    assert [(r["file"], r["row_number"], r["run_id"]) for r in rows] == [
        ("a.csv", 3, "r1"),
        ("a.csv", 9, "r3"),
        ("b.csv", 1, "r1"),
    ]
    # a file that now has no rejects loses its old quarantine rows
    assert replace_quarantine(lake, QUARANTINE.empty_table(), ["a.csv"])
    assert lake.query("SELECT file FROM quarantine").column("file").to_pylist() == ["b.csv"]


@pytest.mark.exact
def test_runs_ledger_appends(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    for i in range(2):
        row = {
            "run_id": f"r{i}",
            "source": "src",
            "watermark": f"2020-01-0{i + 1}T00:00:00Z",
            "rows_in": 5,
            "rows_ok": 4,
            "rows_quarantined": 1,
            "rows_duplicate": 0,
            "rows_new": 4 - 4 * i,
            "started": dt.datetime(2020, 1, 1, i, tzinfo=UTC),
            "ended": None,
            "status": "ok",
            "error": None,
        }
        with lake.lock():
            txn = lake.begin()
            txn.append_runs("src", pa.Table.from_pylist([row], schema=RUNS))
            txn.commit()
    assert lake.query("SELECT run_id FROM runs ORDER BY started").column(0).to_pylist() == [
        "r0",
        "r1",
    ]
    assert lake.last_watermark("src") == "2020-01-02T00:00:00Z"
    assert lake.last_watermark("other") is None


@pytest.mark.exact
def test_abandoned_transaction_is_invisible_and_cleaned(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    upsert(lake, "incidents", "src", incidents([(1, 1, "a")]))
    before_rows = stored(lake)
    before_files = snapshot(lake.root)
    with lake.lock():
        txn = lake.begin()
        txn.upsert("incidents", "src", incidents([(1, 1, "changed"), (2, 5, "b")]))
        # not committed: staged files sit in partition dirs, unreferenced
    assert stored(lake) == before_rows
    assert snapshot(lake.root) != before_files
    with lake.lock():  # the next writer cleans up
        pass
    assert snapshot(lake.root) == before_files


@pytest.mark.exact
def test_bad_tables_are_refused_with_the_columns(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    data = incidents([(1, 1, "a")])
    with pytest.raises(DataError, match=r"lacks columns \['lat'\].*expected"):
        upsert(lake, "incidents", "src", data.drop_columns(["lat"]))
    with pytest.raises(DataError, match="source values"):
        upsert(lake, "incidents", "other", data)
    bad = data.set_column(0, "incident_id", pa.array([None], pa.string()))
    with pytest.raises(DataError, match="null values in required column 'incident_id'"):
        upsert(lake, "incidents", "src", bad)
    assert lake.version == 0


@pytest.mark.exact
def test_one_writer_at_a_time(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with lake.lock(), pytest.raises(TwinError, match="another sync"), Lake(lake.root).lock():
        pass
    with pytest.raises(TwinError, match=r"lake\.lock"):
        lake.begin()


@pytest.mark.property
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(
            st.tuples(st.integers(0, 6), st.integers(1, 4), st.sampled_from(["a", "b", "c"])),
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_lake_equals_last_write_wins_model(
    tmp_path_factory: pytest.TempPathFactory, batches: list
) -> None:
    lake = Lake(tmp_path_factory.mktemp("prop") / "lake")
    model: dict[str, tuple[int, str]] = {}
    for batch in batches:
        incoming: dict[str, tuple[int, str]] = {}
        for i, d, c in batch:
            incoming[f"src:{i}"] = (d, c)
        expected_new = sum(1 for k, v in incoming.items() if model.get(k) != v)
        n, _ = upsert(lake, "incidents", "src", incidents(batch))
        model.update(incoming)
        assert n == expected_new
        assert stored(lake) == model
    # one file per non-empty partition, nothing unreferenced on disk
    files = lake.files("incidents")
    assert len({f.parent for f in files}) == len(files) == len({d for d, _ in model.values()})
    assert set(lake.root.rglob("*.parquet")) == set(files)


@pytest.mark.exact
def test_incidents_partition_by_event_time_and_received_may_be_null(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    data = incidents([(1, 1, "a"), (2, 5, "b")])
    at_scene = pa.array(
        [dt.datetime(2020, 1, 9, 3, tzinfo=UTC)] * 2, INCIDENTS.field("onscene").type
    )
    data = data.set_column(data.schema.get_field_index("event_time"), "event_time", at_scene)
    data = data.set_column(
        data.schema.get_field_index("received"), "received", pa.nulls(2, at_scene.type)
    )
    data = data.set_column(data.schema.get_field_index("onscene"), "onscene", at_scene)
    assert upsert(lake, "incidents", "src", data) == (2, True)
    assert [f.split("/")[2] for f in lake._manifest().files["incidents"]] == ["date=2020-01-09"]
    rows = lake.query("SELECT received, event_time FROM incidents").to_pylist()
    assert [r["received"] for r in rows] == [None, None]
    with pytest.raises(DataError, match="null values in required column 'event_time'"):
        upsert(
            lake,
            "incidents",
            "other",
            incidents([(1, 1, "a")], "other").set_column(
                INCIDENTS.get_field_index("event_time"),
                "event_time",
                pa.nulls(1, at_scene.type),
            ),
        )


@pytest.mark.exact
def test_upsert_counts_distinct_input_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")

    def readings(values: list[float]) -> pa.Table:
        times = [dt.datetime(2020, 1, 1, h, tzinfo=UTC) for h in range(len(values)) for _ in "ew"]
        return pa.Table.from_pydict(
            {
                "device_id": ["d"] * 2 * len(values),
                "source": ["c"] * 2 * len(values),
                "time": times,
                "metric": ["count_east", "count_west"] * len(values),
                "value": [v for v in values for _ in "ew"],
            },
            schema=SCHEMAS["device_readings"],
        )

    def put(values: list[float]) -> int:
        with lake.lock():
            txn = lake.begin()
            n = txn.upsert("device_readings", "c", readings(values), distinct=("device_id", "time"))
            txn.commit()
            return n

    assert put([1.0, 2.0, 3.0]) == 3  # fast path: 6 records, 3 hours
    assert put([1.0, 5.0, 3.0, 4.0]) == 2  # merge path: hour 1 changed (2 records), hour 3 new
    assert put([1.0, 5.0, 3.0, 4.0]) == 0


@pytest.mark.exact
def test_a_lake_of_an_older_schema_is_refused_with_the_fix(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    lake = Lake(tmp_path / "lake")
    upsert(lake, "incidents", "src", incidents([(1, 1, "a")]))
    for path in lake.files("incidents"):  # what a sync before event_time existed wrote
        pq.write_table(pq.read_table(path).drop_columns(["event_time"]), path)
    fresh = Lake(tmp_path / "lake")
    with pytest.raises(DataError, match="written by an older schema"):
        fresh.check_schema()
    with pytest.raises(DataError, match="written by an older schema") as err:
        fresh.connect()
    assert "make clean" in str(err.value)
    assert str(fresh.root) in str(err.value)
    assert "'event_time'" in str(err.value)
    with pytest.raises(DataError, match="written by an older schema"):
        upsert(fresh, "incidents", "src", incidents([(2, 1, "b")]))


@pytest.mark.exact
def test_key_moving_out_of_a_touched_partition_leaves_no_old_copy(tmp_path: Path) -> None:
    # Found by the model test: src:0 moves from day 2 to day 1 while src:1 (unchanged) keeps
    # day 2 touched by the same batch; the old src:0 must leave day 2.
    lake = Lake(tmp_path / "lake")
    upsert(lake, "incidents", "src", incidents([(0, 2, "a"), (1, 2, "a")]))
    assert upsert(lake, "incidents", "src", incidents([(0, 1, "a"), (1, 2, "a")])) == (1, True)
    assert stored(lake) == {"src:0": (1, "a"), "src:1": (2, "a")}
    assert lake.query("SELECT count(*) FROM incidents").column(0)[0].as_py() == 2

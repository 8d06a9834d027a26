"""User errors reach the user as one clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.cli import main

pytestmark = pytest.mark.exact


def test_bad_adapter_options_stop_the_sync_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(
        "cities:\n"
        "  - {name: testville, tz: UTC, bbox: [-1, -1, 1, 1]}\n"
        "sources:\n"
        "  - name: drop\n"
        "    adapter: csv_drop\n"
        "    kind: csv_drop\n"
        f"    path: {tmp_path}\n"
        "    city: testville\n"
        "    options:\n"
        '      time_format: "%Y-%m-%d %H:%M"\n'
        "      columns: {source_id: cad, recieved: t}\n"
    )
    lake = tmp_path / "lake"
    assert main(["sync", "--config", str(cfg), "--lake", str(lake)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err
    assert "sources[0]" in err
    assert "options.columns.recieved" in err
    assert not lake.exists()


def test_brackets_in_user_ids_are_printed_verbatim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = tmp_path / "s.yaml"
    sc.write_text(
        "name: x\nhorizon: 100\n"
        "zones: [{id: z1, location: [0, 0], rate_per_hour: 1}]\n"
        'units: [{id: u1, post: "[/b]"}]\n'
    )
    assert main(["simulate", str(sc)]) == 2
    err = capsys.readouterr().err
    assert "unknown zone id '[/b]'" in err


def test_an_unwritable_output_path_is_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "example.yaml"
    code = main(["simulate", str(scenario), "--horizon", "60", "--out", str(blocker)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(blocker) in err
    assert "Traceback" not in err

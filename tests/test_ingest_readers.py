"""The CSV reader gives the same table with ISA-L inflation and with pyarrow's gzip reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from twin.errors import DataError
from twin.ingest import readers


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "calls.csv.gz"
    rows = "".join(f'{i},"{i % 7} Main St, Apt {i}",0{i % 9}.50,\n' for i in range(5000))
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\ufeffid, address ,value,empty\n" + rows)
    return path


@pytest.mark.exact
def test_inflate_paths_give_the_same_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path)
    fast = readers.read_csv_strings(path, ["id", "address"])
    monkeypatch.setattr(readers, "_igzip", None)  # the path without the optional ISA-L package
    plain = readers.read_csv_strings(path, ["id", "address"])
    assert fast.equals(plain)
    assert fast.column_names == ["id", "address", "value", "empty"]
    assert fast.num_rows == 5000
    assert fast.column("address")[3].as_py() == "3 Main St, Apt 3"
    assert fast.column("value")[1].as_py() == "01.50"
    assert fast.column("empty")[0].as_py() == ""


@pytest.mark.exact
def test_large_gzip_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path)
    whole = readers.read_csv_strings(path)
    monkeypatch.setattr(readers, "INFLATE_IN_MEMORY_MAX", 10)
    assert readers._csv_input(path) == path  # over the limit: pyarrow streams it
    assert readers.read_csv_strings(path).equals(whole)


@pytest.mark.validation
@pytest.mark.parametrize("isal", [True, False])
def test_truncated_or_corrupt_gzip_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isal: bool
) -> None:
    if not isal:
        monkeypatch.setattr(readers, "_igzip", None)
    blob = _write(tmp_path).read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"cut\.csv\.gz: .*truncated or corrupt"):
        readers.read_csv_strings(cut)
    flipped = bytearray(blob)
    flipped[len(blob) // 2 : len(blob) // 2 + 64] = b"x" * 64
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"bad\.csv\.gz: .*truncated or corrupt"):
        readers.read_csv_strings(bad)

"""A generic CSV drop-folder source: a city plugs in its own CAD export with no code.

The sync config names the adapter ``csv_drop`` and gives a column mapping in its options::

    - name: mycity_cad
      adapter: csv_drop
      path: /data/drops/mycity          # a file, or a folder: every *.csv / *.csv.gz in it
      options:
        agency: police
        columns:                        # canonical incident field -> CSV column
          source_id: "Call No"
          received: "Time Received"
          dispatched: "Time Dispatched"
          onscene: "Time Arrived"
          cleared: "Time Cleared"
          lon: "X"
          lat: "Y"                      # or  location: "Point"  ("(lat, lon)" text)
          call_type: "Nature"
          priority: "Pri"
          zone_code: "Beat"
        time_format: "%Y-%m-%d %H:%M:%S" # or time_formats: [...]
        time_zone: "America/Chicago"     # default: the city's time zone
        id_prefix: mycity                # incident ids "mycity:<Call No>"; default the source
        zone_prefix: "mycity:beat:"      # zone id = prefix + zone_code
        priority_map: {"A": 1, "B": 2}   # default: integers as written
        require_zone: true               # quarantine located calls in no zone
        delimiter: ","

Only ``columns.source_id`` and ``columns.received`` are required. Each file is validated on its
own (row numbers in the quarantine are per file); the outputs are concatenated. Duplicates across
files are resolved by the lake (the same id replaces the older version).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.errors import ConfigError
from twin.ingest.base import AdapterContext, AdapterOutput
from twin.ingest.incidents import IncidentSpec, merge_outputs, read_incidents
from twin.ingest.readers import list_drop_files
from twin.ingest.timeconv import check_tz

__all__ = ["CsvDropColumns", "CsvDropOptions", "csv_drop", "spec_from_options"]


class CsvDropColumns(BaseModel):
    """Canonical incident field -> CSV column name."""

    model_config = ConfigDict(extra="forbid")

    source_id: str
    received: str
    dispatched: str | None = None
    enroute: str | None = None
    onscene: str | None = None
    cleared: str | None = None
    lon: str | None = None
    lat: str | None = None
    location: str | None = None
    call_type: str | None = None
    call_group: str | None = None
    priority: str | None = None
    zone_code: str | None = None

    @model_validator(mode="after")
    def _lon_lat_pair(self) -> CsvDropColumns:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both 'lon' and 'lat' columns, or neither")
        return self


class CsvDropOptions(BaseModel):
    """Options of a ``csv_drop`` source (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    columns: CsvDropColumns
    agency: str = "police"
    time_format: str | None = None
    time_formats: list[str] = Field(default_factory=list)
    time_zone: str | None = None
    id_prefix: str | None = None
    zone_prefix: str = ""
    priority_map: dict[str, int] | None = None
    require_zone: bool = True
    delimiter: str = ","
    newlines_in_values: bool = False

    @model_validator(mode="after")
    def _formats(self) -> CsvDropOptions:
        if self.time_format is None and not self.time_formats:
            raise ValueError("give 'time_format' (a strptime pattern) or 'time_formats'")
        if self.time_zone is not None:
            check_tz(self.time_zone)
        if len(self.delimiter) != 1:
            raise ValueError("'delimiter' must be one character")
        return self


def _options(ctx: AdapterContext) -> CsvDropOptions:
    try:
        return CsvDropOptions.model_validate(ctx.options)
    except ValidationError as exc:
        problems = "; ".join(
            f"options.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"source {ctx.source!r} (adapter csv_drop): {problems}. "
            "See twin.ingest.csvdrop for the option layout."
        ) from exc


def spec_from_options(opts: CsvDropOptions) -> IncidentSpec:
    """Build the incident spec that a ``csv_drop`` option block describes.

    Args:
        opts: Validated options.

    Returns:
        The spec used by :func:`twin.ingest.incidents.build_incidents`.

    """
    cols = opts.columns
    times = {
        name: getattr(cols, name)
        for name in ("received", "dispatched", "enroute", "onscene", "cleared")
        if getattr(cols, name) is not None
    }
    mapped: list[Any] = [v for v in cols.model_dump().values() if v is not None]
    formats = ([opts.time_format] if opts.time_format else []) + list(opts.time_formats)
    return IncidentSpec(
        agency=opts.agency,
        columns=tuple(dict.fromkeys(mapped)),
        id_column=cols.source_id,
        times=times,
        time_formats=tuple(formats),
        time_tz=opts.time_zone,
        lon=cols.lon,
        lat=cols.lat,
        location=cols.location,
        call_type=cols.call_type,
        call_group=cols.call_group,
        priority=cols.priority,
        priority_map=opts.priority_map,
        zone_code=cols.zone_code,
        zone_prefix=opts.zone_prefix,
        require_zone=opts.require_zone,
        id_prefix=opts.id_prefix,
        layout="the csv_drop column mapping",
    )


def csv_drop(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """Read a CSV file or every ``*.csv``/``*.csv.gz`` in a folder through a column mapping.

    Args:
        path: A CSV file or a drop folder.
        ctx: Adapter context; ``ctx.options`` holds the mapping (see the module doc).

    Returns:
        Incidents and quarantine of all files, with summed counts.

    Raises:
        ConfigError: When the options are malformed.
        DataError: When a file is missing, corrupt or lacks a mapped column.

    """
    opts = _options(ctx)
    spec = spec_from_options(opts)
    outputs = []
    for file in list_drop_files(Path(path)):
        outputs.append(
            read_incidents(
                file,
                (spec,),
                ctx,
                delimiter=opts.delimiter,
                newlines_in_values=opts.newlines_in_values,
            )
        )
    out = merge_outputs(outputs)
    out.check_accounting()
    return out

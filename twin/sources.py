"""The sync config: which cities exist and which sources feed the lake.

A YAML file (parsed with ``yaml.safe_load``) validated by pydantic models that forbid unknown
keys. The bundled default (``twin/data/sources.yaml``) reads the embedded open data through
``twin.paths.default_data_dir()``. Example::

    default_city: seattle
    cities:
      - {name: seattle}     # tz and bbox from twin.cities
    sources:
      - name: seattle_fire_911
        adapter: seattle_fire_911
        path: seattle/seattle_fire_911_2015-06_2016-02.csv.gz   # relative to the data dir
        city: seattle

``path`` may also be absolute, a directory (every file in it, a drop folder) or a glob pattern.
Errors raise :class:`~twin.errors.ConfigError` naming the file and the field path
(``sources[3].adapter: unknown adapter 'x'; known: ...``).
"""

from __future__ import annotations

import glob
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.errors import ConfigError
from twin.paths import default_data_dir

__all__ = [
    "DEFAULT_CONFIG",
    "City",
    "Health",
    "Source",
    "SyncConfig",
    "known_adapters",
    "load_config",
]

DEFAULT_CONFIG = Path(__file__).resolve().parent / "data" / "sources.yaml"
"""The bundled sync config (every embedded sample)."""


def known_adapters() -> list[str]:
    """Return the adapter names the ingest registry offers, sorted."""
    try:
        from twin.ingest.registry import ADAPTERS
    except ImportError:  # pragma: no cover - the registry ships with the package
        return []
    return sorted(ADAPTERS)


class City(BaseModel):
    """A city the sync feeds: its name, local time zone and bounding box.

    For a city of :mod:`twin.cities` (the one home of city facts) ``tz`` and ``bbox`` come
    from there when omitted; a ``tz`` given anyway must agree with it, a ``bbox`` overrides the
    quarantine box. A city unknown to :mod:`twin.cities` (sync only) must give both.

    Attributes:
        name: City key used by sources and tables (``seattle``).
        tz: IANA time zone of local wall-clock times (``America/Los_Angeles``).
        bbox: ``[min_lon, min_lat, max_lon, max_lat]`` (WGS84); points outside are quarantined.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    tz: str = ""
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @model_validator(mode="before")
    @classmethod
    def _from_twin_cities(cls, data: Any) -> Any:
        from twin.cities import CITIES

        if not isinstance(data, dict) or data.get("name") not in CITIES:
            if isinstance(data, dict) and ("tz" not in data or "bbox" not in data):
                raise ValueError(
                    f"city {data.get('name')!r} is not in twin.cities: give its tz and bbox"
                )
            return data
        known = CITIES[data["name"]]
        if "tz" in data and data["tz"] != known.tz:
            raise ValueError(
                f"tz {data['tz']!r} disagrees with twin.cities ({known.name}: {known.tz}); "
                "leave tz out"
            )
        return {"tz": known.tz, "bbox": known.bbox, **data}

    @field_validator("tz")
    @classmethod
    def _known_tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from exc
        return value

    @field_validator("bbox")
    @classmethod
    def _ordered_bbox(
        cls, value: tuple[float, float, float, float]
    ) -> tuple[float, float, float, float]:
        lon0, lat0, lon1, lat1 = value
        if not (-180 <= lon0 < lon1 <= 180 and -90 <= lat0 < lat1 <= 90):
            raise ValueError("bbox must be [min_lon, min_lat, max_lon, max_lat] with min < max")
        return value


class Health(BaseModel):
    """When a source's run counts as ``degraded`` (see ``twin.sync.assess_health``).

    Attributes:
        max_quarantined_share: Degraded when more than this share of the rows read is
            quarantined (0..1; default 5%).
        max_quarantine_jump: Degraded when the quarantined share exceeds the median share of
            the source's recent runs by more than this (absolute, 0..1; default 2 percentage
            points) and by more than that median itself (it at least doubled).
        history: How many recent runs form that median (at least ``min_history`` needed).
        min_history: Fewer earlier runs than this: no jump check.
        allow_empty: Landing 0 rows is fine (otherwise degraded).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_quarantined_share: float = Field(default=0.05, ge=0, le=1)
    max_quarantine_jump: float = Field(default=0.02, ge=0, le=1)
    history: int = Field(default=5, ge=1, le=100)
    min_history: int = Field(default=3, ge=1, le=100)
    allow_empty: bool = False


class Source(BaseModel):
    """One source feeding the lake.

    Attributes:
        name: Unique source name; the ``source`` column and lake partition.
        adapter: Adapter name in ``twin.ingest.registry.ADAPTERS``.
        path: File, directory, or glob; relative paths are under the data dir. For ``socrata``
            sources an optional local cache path.
        city: A city name from ``cities``.
        enabled: Disabled sources are skipped.
        options: Adapter-specific options (column mapping, API settings, ...).
        kind: ``file`` (a file export), ``csv_drop`` (a drop folder) or ``socrata`` (an API).
        health: When a run of this source counts as degraded.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    adapter: str
    path: str | None = None
    city: str
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["file", "socrata", "csv_drop"] = "file"
    health: Health = Field(default_factory=Health)

    @field_validator("adapter")
    @classmethod
    def _known_adapter(cls, value: str) -> str:
        known = known_adapters()
        if value not in known:
            raise ValueError(f"unknown adapter {value!r}; known: {', '.join(known)}")
        return value

    @model_validator(mode="after")
    def _path_for_files(self) -> Source:
        if self.kind != "socrata" and not self.path:
            raise ValueError(f"source {self.name!r} of kind {self.kind!r} needs a path")
        return self

    @model_validator(mode="after")
    def _adapter_options(self) -> Source:
        # checked when the config loads, so a bad option block writes nothing at all
        if self.adapter == "csv_drop":
            from twin.ingest.csvdrop import CsvDropOptions

            try:
                CsvDropOptions.model_validate(self.options)
            except ValidationError as exc:
                problems = "; ".join(
                    f"options.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                    for err in exc.errors()
                )
                raise ValueError(
                    f"{problems} (see twin.ingest.csvdrop for the option layout)"
                ) from None
        return self


class SyncConfig(BaseModel):
    """The whole sync config.

    Attributes:
        data_dir: Where relative source paths live; ``twin.paths.default_data_dir()`` when
            None; relative to the config file's directory when relative.
        default_city: The city whose time zone schedules the nightly run (first city if None).
        cities: The cities.
        sources: The sources, in file order.
        config_file: The file this config was read from (set by :func:`load_config`).

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: str | None = None
    default_city: str | None = None
    cities: list[City] = Field(min_length=1)
    sources: list[Source]
    config_file: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> SyncConfig:
        names = [c.name for c in self.cities]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"cities[{i}].name: duplicate city {name!r}")
        if self.default_city is not None and self.default_city not in names:
            raise ValueError(
                f"default_city: unknown city {self.default_city!r}; known: {', '.join(names)}"
            )
        seen: set[str] = set()
        for i, src in enumerate(self.sources):
            if src.name in seen:
                raise ValueError(f"sources[{i}].name: duplicate source {src.name!r}")
            seen.add(src.name)
            if src.city not in names:
                raise ValueError(
                    f"sources[{i}].city: unknown city {src.city!r}; known: {', '.join(names)}"
                )
        return self

    # ------------------------------------------------------------------ helpers
    def city(self, name: str) -> City:
        """Return the city called *name*."""
        for c in self.cities:
            if c.name == name:
                return c
        raise ConfigError(f"{self.config_file}: unknown city {name!r}")

    @property
    def home_city(self) -> City:
        """The default city (``default_city`` or the first one)."""
        return self.city(self.default_city) if self.default_city else self.cities[0]

    def data_root(self) -> Path:
        """Return the directory relative source paths are resolved against."""
        if self.data_dir is None:
            return default_data_dir()
        root = Path(self.data_dir).expanduser()
        if not root.is_absolute() and self.config_file:
            root = Path(self.config_file).parent / root
        return root.resolve()

    def enabled_sources(self) -> list[Source]:
        """Return the enabled sources in file order."""
        return [s for s in self.sources if s.enabled]

    def source(self, name: str) -> Source:
        """Return the source called *name*.

        Raises:
            ConfigError: No such source.

        """
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(f"{self.config_file}: unknown source {name!r}; known: {known}")

    def source_path(self, source: Source) -> Path:
        """Return *source*'s configured path, resolved against the data dir."""
        if source.path is None:
            raise ConfigError(f"{self.config_file}: source {source.name!r} has no path")
        path = Path(source.path).expanduser()
        return path if path.is_absolute() else self.data_root() / path

    def input_files(self, source: Source) -> list[Path]:
        """Return the input files of *source*, sorted (a directory or glob expands).

        Raises:
            DataError: The path does not exist, or a folder or glob matches no file.

        """
        from twin.errors import DataError

        path = self.source_path(source)
        if glob.has_magic(str(path)):
            files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
            if not files:
                raise DataError(f"source {source.name!r}: no file matches {path}")
            return files
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
            )
            if not files:
                raise DataError(f"source {source.name!r}: drop folder {path} holds no file")
            return files
        if not path.exists():
            raise DataError(
                f"source {source.name!r}: input file {path} does not exist; fix sources[].path "
                "in the sync config or set TWIN_DATA_DIR"
            )
        return [path]


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "<root>"


def load_config(path: Path | str | None = None) -> SyncConfig:
    """Read and validate a sync config.

    Args:
        path: The YAML file; the bundled default when None.

    Returns:
        The validated config.

    Raises:
        ConfigError: Unreadable YAML or a field that fails validation, naming the file and the
            field path.

    """
    file = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the sync config ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the sync config must be a mapping with 'cities' and 'sources'")
    if "config_file" in raw:
        raise ConfigError(f"{file}: config_file: not a config field; remove it")
    try:
        return SyncConfig.model_validate({**raw, "config_file": str(file)})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            loc = _loc(tuple(err["loc"]))
            if err["type"] == "extra_forbidden":
                msg = "unknown field; remove it or check the spelling"
            lines.append(f"{loc}: {msg}" if err["loc"] else msg)
        raise ConfigError(f"{file}: " + "; ".join(lines)) from exc

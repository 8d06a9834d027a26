"""GeoJSON zone files -> ``zones`` rows, shared by the Seattle and Jiaxing zone adapters.

Each feature is one input row. Features are quarantined when their code is missing
(``missing_id``), a placeholder (``placeholder_record``, e.g. SPD beat 99), listed twice with
different content (``conflicting_duplicate``) or without a usable polygon (``invalid_geometry``;
self-intersecting polygons are repaired with ``make_valid`` rather than rejected).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from twin.errors import DataError
from twin.ingest.base import AdapterContext, AdapterOutput, QuarantineReason
from twin.ingest.readers import read_json, records_to_table
from twin.ingest.spatial import make_zones_table
from twin.ingest.validate import Triage, classify_duplicates
from twin.schemas import ZONES

__all__ = ["polygon_of", "read_features", "zones_from_features"]


def read_features(path: Path) -> list[dict[str, Any]]:
    """Return the features of a GeoJSON FeatureCollection file.

    Args:
        path: The file.

    Returns:
        The feature objects.

    Raises:
        DataError: When the file is missing, not JSON, or not a FeatureCollection.

    """
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise DataError(f"{path}: expected a GeoJSON FeatureCollection with a 'features' list")
    return list(doc["features"])


def polygon_of(feature: dict[str, Any]) -> BaseGeometry | None:
    """Return a feature's (multi)polygon, repaired if invalid, or None when it has none.

    Args:
        feature: A GeoJSON feature.

    Returns:
        The polygon, or None for a missing, empty or non-polygon geometry.

    """
    try:
        geom = shape(feature["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
        return None
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
        if geom.geom_type == "GeometryCollection":
            polys = [g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
            geom = shapely.union_all(polys) if polys else None
    return geom


def zones_from_features(
    path: Path,
    ctx: AdapterContext,
    features: list[dict[str, Any]],
    *,
    kind: str,
    code_key: str,
    district_key: str | None,
    name_key: str | None,
    placeholder: set[str],
    transform: Callable[[BaseGeometry], BaseGeometry] | None = None,
) -> AdapterOutput:
    """Validate GeoJSON features and build ``zones`` rows (``"<city>:<kind>:<code>"``).

    Args:
        path: The source file (for quarantine rows).
        ctx: Adapter context.
        features: The file's features (one input row each).
        kind: Zone kind (beat, precinct, district, ...).
        code_key: Property holding the zone's code.
        district_key: Property holding its district (None: no district).
        name_key: Property holding a display name (None: no name).
        placeholder: Codes that are placeholders, not zones (quarantined).
        transform: Applied to each polygon (e.g. GCJ-02 -> WGS84).

    Returns:
        The adapter output with ``zones`` and quarantine.

    """
    n = len(features)
    props = [f.get("properties") or {} for f in features]
    raw = records_to_table(
        [
            {**p, "geometry_type": (f.get("geometry") or {}).get("type")}
            for p, f in zip(props, features, strict=True)
        ],
        sorted({k for p in props for k in p} | {"geometry_type"}),
    )
    triage = Triage(n)
    codes = [None if p.get(code_key) in (None, "") else str(p.get(code_key)) for p in props]
    geoms = [polygon_of(f) for f in features]
    if transform is not None:
        geoms = [None if g is None else transform(g) for g in geoms]
    key = pa.array(codes, pa.string())
    exact, conflict = classify_duplicates(raw, key)
    triage.duplicates(exact)
    triage.flag(
        np.array([c is None for c in codes]),
        QuarantineReason.MISSING_ID,
        f"feature has no {code_key!r} property",
    )
    triage.flag(
        np.array([c in placeholder for c in codes]),
        QuarantineReason.PLACEHOLDER,
        f"{code_key} is a placeholder, not a real {kind}",
    )
    triage.flag(conflict, QuarantineReason.CONFLICTING_DUPLICATE, f"{code_key} appears twice")
    triage.flag(
        np.array([g is None for g in geoms]),
        QuarantineReason.INVALID_GEOMETRY,
        "geometry is missing, empty or not a polygon",
    )
    keep = np.flatnonzero(triage.pending)
    table = (
        make_zones_table(
            zone_ids=[f"{ctx.city}:{kind}:{codes[i]}" for i in keep],
            source=ctx.source,
            city=ctx.city,
            kind=kind,
            codes=[str(codes[i]) for i in keep],
            districts=[
                None
                if district_key is None or props[i].get(district_key) in (None, "")
                else str(props[i][district_key])
                for i in keep
            ],
            names=[
                None
                if name_key is None or props[i].get(name_key) is None
                else str(props[i][name_key])
                for i in keep
            ],
            geometries=[geoms[i] for i in keep],
        )
        if len(keep)
        else ZONES.empty_table()
    )
    return triage.output(
        {"zones": table},
        triage.quarantine(raw, source=ctx.source, run_id=ctx.run_id, file=str(path)),
    )

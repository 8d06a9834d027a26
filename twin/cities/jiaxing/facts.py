"""Jiaxing's public facts: districts, fleet, checkpoints, sea cut, and every assumption.

Populations are the 2020 census; the fleet (116 PTU teams, 245 station patrol groups) and the
16 smart checkpoints are the figures of the 2021 report summarised in ``../shared/BACKGROUND.md``.
Every number the builder uses that is not read from the lake is an :class:`Assumption` with
its rationale and source (:func:`assumptions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "CHECKPOINT_CLASSES",
    "CHECKPOINT_SITES",
    "DISTRICTS",
    "FLAG_PROBABILITY",
    "PTU_TEAMS",
    "SEATS_GCJ02",
    "SEA_CUTS",
    "SMART_CHECKPOINTS",
    "STATION_GROUPS",
    "WATCHLIST_HIT",
    "Assumption",
    "CheckpointSite",
    "DistrictFact",
    "SeaCut",
    "assumptions",
]

PTU_TEAMS: Final = 116
"""PTU mobile teams reported for Jiaxing (BACKGROUND.md)."""
STATION_GROUPS: Final = 245
"""Police-station patrol groups reported for Jiaxing (BACKGROUND.md)."""
SMART_CHECKPOINTS: Final = 16
"""Smart checkpoints reported for Jiaxing (BACKGROUND.md)."""


@dataclass(frozen=True)
class DistrictFact:
    """Public facts about one county-level district.

    Attributes:
        adcode: The administrative code (the boundary file's ``adcode``).
        name: Pinyin name.
        name_zh: Chinese name as in the boundary file.
        population: Resident population, 2020 census (7th national census, 1 Nov 2020).
        source: Where the population figure comes from.

    """

    adcode: int
    name: str
    name_zh: str
    population: int
    source: str


_POP_TABLE = (
    "Xiuzhou District Statistics Bureau, 2021-07-27, table 1 of 7th-census resident population "
    "by county (https://www.xiuzhou.gov.cn/art/2021/7/27/art_1228921764_59171896.html)"
)

DISTRICTS: Final[tuple[DistrictFact, ...]] = (
    DistrictFact(
        330402,
        "Nanhu",
        "南湖区",
        839_433,
        "China Population Census by County 2020 (administrative basis, includes its part of "
        "the Jiaxing Economic Development Zone), as quoted by zh.wikipedia 'Nanhu District'",
    ),
    DistrictFact(
        330411,
        "Xiuzhou",
        "秀洲区",
        679_182,
        "derived: city total 5,400,868 minus the six other districts (administrative basis; "
        "the management-basis table gives Nanhu 62.47 + Xiuzhou 55.70 + Economic Development "
        "Zone 33.70 = 151.87 万 for the two districts together, which matches)",
    ),
    DistrictFact(330421, "Jiashan", "嘉善县", 648_200, _POP_TABLE + ": 64.82 万"),
    DistrictFact(330424, "Haiyan", "海盐县", 456_800, _POP_TABLE + ": 45.68 万"),
    DistrictFact(
        330481,
        "Haining",
        "海宁市",
        1_076_199,
        "Haining 7th National Census Bulletin (海宁市第七次全国人口普查公报)",
    ),
    DistrictFact(
        330482,
        "Pinghu",
        "平湖市",
        671_300,
        _POP_TABLE + ": 67.13 万 (includes the Zhapu port area)",
    ),
    DistrictFact(
        330483,
        "Tongxiang",
        "桐乡市",
        1_029_754,
        "Tongxiang 7th National Census Bulletin (桐乡市第七次全国人口普查公报)",
    ),
)
"""The seven districts with their 2020 census populations (sum 5,400,868, the city total)."""


@dataclass(frozen=True)
class Assumption:
    """One stated assumption of the scenario, written into the scenario file.

    Attributes:
        key: Short identifier (``calls_per_1000_per_day``).
        value: The value used (a number, text or small mapping).
        rationale: Why this value, and what it rests on.

    """

    key: str
    value: Any
    rationale: str

    def as_dict(self) -> dict[str, Any]:
        """Return the assumption as a plain mapping for the YAML file."""
        return {"key": self.key, "value": self.value, "rationale": self.rationale}


@dataclass(frozen=True)
class CheckpointSite:
    """A guessed smart-checkpoint site.

    Attributes:
        id: Checkpoint id (``"cp01"``).
        name: Display name (road and place).
        adcode: District the checkpoint belongs to.
        guess: Approximate WGS84 ``(lon, lat)`` guessed from public road maps.
        snap: Where the checkpoint is placed: ``"city"`` (the point of the district's part of
            the city border nearest the guess: an entry road), ``"district"`` (nearest point of
            the district's border with other districts), ``"coast"`` (nearest point of the coast
            line cut from the district: a bridge head) or ``"none"`` (the guess itself).
        kind: ``expressway`` or ``road`` (vehicle checks) or ``scenic`` (visitor check); the
            lanes and volumes come from :data:`CHECKPOINT_CLASSES`.

    """

    id: str
    name: str
    adcode: int
    guess: tuple[float, float]
    snap: str
    kind: str


CHECKPOINT_CLASSES: Final[dict[str, dict[str, float]]] = {
    "expressway": {"lanes": 4, "rate_per_hour": 150.0},
    "road": {"lanes": 2, "rate_per_hour": 60.0},
    "scenic": {"lanes": 3, "rate_per_hour": 120.0},
}
"""Lanes and mean arrivals per hour through the inspection lanes, by checkpoint kind (guesses:
with the smart-mode lane time of ``scenarios/jiaxing_checkpoint.yaml``, 0.35 + 0.05 x 2.5 =
0.475 min, the lanes run 24-32% busy, so a vehicle passes in about the reported 30 s)."""

CHECKPOINT_SITES: Final[tuple[CheckpointSite, ...]] = (
    CheckpointSite("cp01", "G60 Shanghai-Kunming Expwy, Shanghai border (Jiashan)", 330421,
                   (121.02, 30.87), "city", "expressway"),
    CheckpointSite("cp02", "S12 Shanghai-Jiaxing-Huzhou Expwy, Shanghai border (Jiashan)", 330421,
                   (121.05, 30.95), "city", "expressway"),
    CheckpointSite("cp03", "G15 Shenyang-Haikou Expwy, Shanghai border (Pinghu)", 330482,
                   (121.20, 30.80), "city", "expressway"),
    CheckpointSite("cp04", "G92 Hangzhou Bay Ring Expwy, Shanghai border (Pinghu)", 330482,
                   (121.25, 30.72), "city", "expressway"),
    CheckpointSite("cp05", "Suzhou-Jiaxing-Hangzhou Expwy, Jiangsu border (Xiuzhou)", 330411,
                   (120.70, 30.93), "city", "expressway"),
    CheckpointSite("cp06", "Provincial road, Jiangsu border north of Xitang (Jiashan)", 330421,
                   (120.89, 30.98), "city", "road"),
    CheckpointSite("cp07", "Provincial road, Jiangsu border north of Wuzhen (Tongxiang)", 330483,
                   (120.49, 30.80), "city", "road"),
    CheckpointSite("cp08", "S12 Shanghai-Jiaxing-Huzhou Expwy, Huzhou border (Tongxiang)", 330483,
                   (120.38, 30.72), "city", "expressway"),
    CheckpointSite("cp09", "G320 National Road, Hangzhou border (Tongxiang)", 330483,
                   (120.33, 30.55), "city", "road"),
    CheckpointSite("cp10", "G60 Shanghai-Kunming Expwy, Hangzhou border (Haining)", 330481,
                   (120.38, 30.42), "city", "expressway"),
    CheckpointSite("cp11", "Jiaxing-Shaoxing Bridge north end (Haining)", 330481,
                   (120.80, 30.345), "none", "expressway"),
    CheckpointSite("cp12", "Hangzhou Bay Bridge north end (Haiyan)", 330424,
                   (121.05, 30.45), "coast", "expressway"),
    CheckpointSite("cp13", "Jiaxing-Haining road north of the Haining roundabout", 330481,
                   (120.70, 30.58), "district", "road"),
    CheckpointSite("cp14", "Nanhu scenic area visitor check (Nanhu)", 330402,
                   (120.763, 30.748), "none", "scenic"),
    CheckpointSite("cp15", "Wuzhen scenic area visitor check (Tongxiang)", 330483,
                   (120.487, 30.745), "none", "scenic"),
    CheckpointSite("cp16", "Yanguan tide-viewing area visitor check (Haining)", 330481,
                   (120.545, 30.405), "none", "scenic"),
)  # fmt: skip
"""The 16 smart checkpoints: guessed sites (the report names only 'north of the Haining
roundabout' and the Nanhu, Wuzhen and Yanguan scenic areas)."""


@dataclass(frozen=True)
class SeaCut:
    """Sea inside a district polygon, cut away before zoning.

    The boundary file draws some districts' limits out into the sea. The cut removes everything
    seaward of a guessed coast line, then moves that line (a uniform buffer of the sea polygon)
    until the remaining land area equals the official land area.

    Attributes:
        adcode: The district.
        coast: Guessed coast line, WGS84 ``(lon, lat)`` points, land on its north-west side.
        sea: Extra points closing the sea polygon far out at sea.
        land_area_km2: The official land area the cut is tuned to.
        source: Where the land area comes from.

    """

    adcode: int
    coast: tuple[tuple[float, float], ...]
    sea: tuple[tuple[float, float], ...]
    land_area_km2: float
    source: str


SEA_CUTS: Final[tuple[SeaCut, ...]] = (
    SeaCut(
        330424,
        coast=((121.045, 30.575), (120.99, 30.53), (120.965, 30.44), (120.90, 30.39),
               (120.83, 30.345), (120.80, 30.33)),
        sea=((120.80, 30.15), (121.40, 30.15), (121.40, 30.575)),
        land_area_km2=584.96,
        source="Haiyan land area 584.96 km² (Haiyan county statistics, as quoted with the "
        "2019 census-era district areas); the polygon holds 943 km² with Hangzhou Bay waters",
    ),
)  # fmt: skip
"""Sea cuts: only Haiyan's polygon reaches far into Hangzhou Bay (Pinghu's holds ~25 km² of
tidal flats and islets, Haining's matches its official 863 km² including its share of the
Qiantang estuary; both are kept as drawn)."""


WATCHLIST_HIT: Final = 2e-5
"""Probability that a checked vehicle or visitor is on a watch list (an assumption)."""
FLAG_PROBABILITY: Final = 0.05
"""Probability that smart classification flags a vehicle for manual inspection."""


SEATS_GCJ02: Final[dict[int, tuple[float, float]]] = {
    330402: (120.749953, 30.764652),
    330411: (120.720431, 30.763323),
    330421: (120.921871, 30.841352),
    330424: (120.942017, 30.522223),
    330481: (120.688821, 30.525544),
    330482: (121.014666, 30.698921),
    330483: (120.551085, 30.629065),
}
"""Each district's seat of government, GCJ-02 ``(lon, lat)``: the ``center`` property of the
boundary file (DataV GeoAtlas ``330400_full.json``), which the lake's ``zones`` table does not
keep. Resident density peaks there."""


def assumptions(p: dict[str, Any]) -> list[Assumption]:
    """Return every assumption, with the values in *p* (builder parameters and derived facts)."""
    pop = sum(d.population for d in DISTRICTS)
    per_day = pop * p["calls_per_1000_per_day"] / 1000.0
    sea = "; ".join(
        f"{name}: drawn {v['raw_area_km2']} km², land {v['land_area_km2']} km² "
        f"(coast guess moved by {v['buffer_km']} km)"
        for name, v in p.get("sea_cut", {}).items()
    )
    cps = CHECKPOINT_CLASSES
    return [
        Assumption(
            "source_boundaries",
            "jiaxing/330400_full.json (Aliyun DataV GeoAtlas, derived from Amap; no stated "
            "licence), GCJ-02 converted to WGS84 by twin.ingest.gcj02",
            "The only public boundary file in the data folder; areas and distances are computed "
            "on a spherical Lambert azimuthal equal-area plane centred on the city.",
        ),
        Assumption(
            "sea_cut",
            sea or "none",
            "Haiyan's polygon (943 km²) reaches far into Hangzhou Bay; its official land area "
            "is 584.96 km² (published county land areas summing to Jiaxing's 3,915 km², e.g. "
            "as compiled at m.wuhan.com/travel/62393.html). The sea seaward of a coast line "
            "guessed from maps (Zhapu - Haiyan town - Qinshan - Ganpu - Jianshan) is cut, the "
            "line moved uniformly until the land area matches. Pinghu (582 vs ~557 km² land: "
            "tidal flats and islets) and Haining (864 vs 863 km², its share of the Qiantang "
            "estuary included officially) are kept as drawn.",
        ),
        Assumption(
            "zone_km",
            p["zone_km"],
            "Square grid cells of this size on the local plane, clipped to each district. 4 km "
            "gives about one zone per station patrol group (~4,200 km² / 245 groups = 17 km² "
            "each) and a 2-3 km drive from a zone's centre to its edge, the scale of a patrol "
            "beat in a plain of towns and villages.",
        ),
        Assumption(
            "min_zone_fraction",
            p["min_zone_fraction"],
            "Pieces of a clipped cell smaller than this share of a full cell are merged into "
            "the neighbouring zone of the same district with the longest common border (the "
            "nearest zone if none touches), so zones tile their district with no slivers.",
        ),
        Assumption(
            "population",
            {d.name: d.population for d in DISTRICTS},
            f"Resident population, 7th national census (1 Nov 2020), city total {pop:,}. "
            "Jiashan, Haiyan and Pinghu (incl. the Zhapu port area): " + _POP_TABLE + ", "
            "given in 万 (10,000) to two decimals. Haining 1,076,199 and Tongxiang 1,029,754: "
            "their 7th-census bulletins. Nanhu 839,433: China Population Census by County 2020 "
            "(administrative basis, includes its part of the Economic Development Zone). "
            "Xiuzhou: the city total minus the six others (the management-basis table gives "
            "Nanhu 62.47 + Xiuzhou 55.70 + Development Zone 33.70 = 151.87 万 for both, which "
            "matches).",
        ),
        Assumption(
            "calls_per_1000_per_day",
            p["calls_per_1000_per_day"],
            "Incidents that need a patrol unit at the scene, per 1,000 residents per day. No "
            "Jiaxing incident data is public. Jiaxing 110 took 2,136,000 calls in 2019 (Jiaxing "
            "PSB on 110 Day 2020, local press) = 5,850 a day; in Hefei (2018) 38.3% of 110 calls "
            "had police sent to the scene (1,004,535 of 2,620,988; Hefei PSB); in Jiangsu (2015) "
            "28.9% of handled incidents were traffic incidents, which traffic police (not the "
            "patrol fleet) handle. 5,850 x 0.383 x 0.71 = 1,590 a day = 0.29 per 1,000 "
            f"residents; rounded to 0.30: {per_day:,.0f} incidents a day city-wide.",
        ),
        Assumption(
            "demand_by_district",
            "proportional to 2020 census population",
            "Call rates per resident are taken as equal across districts (no district figures "
            "are public).",
        ),
        Assumption(
            "resident_density",
            {"core_boost": p["core_boost"], "core_scale_km": p["core_scale_km"]},
            "Inside a district, residents (and calls) follow the density 1 + core_boost * "
            "exp(-d / core_scale_km), d = km from the district seat (the boundary file's "
            "'center'), integrated over each zone on a 250 m lattice. With 10 and 3 km about "
            f"{p.get('share_within_6km', 0.5):.0%} of residents live within 6 km of their "
            "district seat and the rest spread over towns and villages, in line with census "
            "urbanisation of ~70% (Haining 69.95%), part of it in outlying towns. A stated "
            "guess; no gridded population was used.",
        ),
        Assumption(
            "demand_profile",
            "stationary (no hour-of-week profile)",
            "No public hourly pattern for Jiaxing. With ~12% utilisation queueing is rare, so "
            "peaks change waits little; add zones[].profile to study them. Keeps the Poisson "
            "assumption of the analytic models.",
        ),
        Assumption(
            "priorities",
            {
                "1": p["priority_shares"][0],
                "2": p["priority_shares"][1],
                "3": p["priority_shares"][2],
            },
            "Shares of the non-traffic incidents handled by Jiangsu 110 in 2015 (15.28 M "
            "handled: crime 8.4%, traffic 28.9%, disputes 11.8%, help 27.7%, other 23.2%): "
            "P1 = crime in progress / danger to life (8.4/71.1 = 12%), P2 = disputes (17%), "
            "P3 = help requests and other (71%). Priority orders the queue only.",
        ),
        Assumption(
            "service",
            {"dist": "exponential", "mean": p["service_mean_min"]},
            "On-scene time from arrival to clear, all priorities. No public Chinese figure; "
            "the San Francisco life cycle in the data folder has a 19.4 min median on-scene to "
            "available (fire/EMS); police calls with statements and mediation run longer, so 30 "
            "min. Exponential keeps the hypercube approximation applicable.",
        ),
        Assumption(
            "travel",
            {
                "model": "haversine",
                "speed_kmh": p["speed_kmh"],
                "circuity": p["circuity"],
                "turnout_min": p["turnout_min"],
            },
            "Great-circle distance x circuity / speed + turnout. Circuity 1.35: road-network "
            "detour factors are typically 1.2-1.4; Jiaxing is a water town with dense canals, "
            "so bridges add detours (upper half). 36 km/h: mixed urban streets and rural "
            "roads under blue-light driving, expressways not used for local response. Turnout "
            "1 min: patrol units wait on the street in their vehicles ('动中备勤').",
        ),
        Assumption(
            "intra_zone_travel",
            {"mean_intra_km": p.get("mean_intra_km", 0.0), "modelled": True},
            "Real calls are spread over a zone, not at its location: each zone carries "
            "zones[].intra_km, the demand-weighted mean straight-line distance from the zone's "
            "location to its residents (city mean "
            f"{p.get('mean_intra_km', 0.0):.2f} km), which the engine uses as the length of a "
            "trip inside the zone (x circuity / speed: about "
            f"{p.get('mean_intra_km', 0.0) * p['circuity'] / p['speed_kmh'] * 60:.1f} min). "
            "Cross-zone trips still run location to location.",
        ),
        Assumption(
            "dispatch",
            "closest free unit; priority queue (FCFS within a level); unlimited queue",
            "The smart patrol platform dispatches the nearest unit by terminal position.",
        ),
        Assumption(
            "fleet",
            {"ptu": PTU_TEAMS, "station": STATION_GROUPS, "total": PTU_TEAMS + STATION_GROUPS},
            "116 PTU mobile teams and 245 police-station patrol groups (BACKGROUND.md). Each is "
            "one unit on duty around the clock (crews rotate; the report gives no shift data).",
        ),
        Assumption(
            "posts",
            "station groups: largest remainder to districts by demand, then Sainte-Laguë to "
            "zones by demand; PTU teams: Sainte-Laguë continued over all zones",
            "Station groups belong to their district's police stations (area = the district's "
            "zones). PTU teams are the city-wide mobile reserve (area = all zones) and reinforce "
            "where demand per posted unit stays highest, i.e. the urban cores. Sainte-Laguë's "
            "first seat is cheap, so most zones get a post and busy zones several; zones without "
            "a post are served from their neighbours.",
        ),
        Assumption(
            "patrol",
            {"policy": "post", "interval_min": 15.0},
            "Idle units wait at their post: Jiaxing's rapid-response circles rest on fixed "
            "street deployment points ('屯警街面', 1-3-5 minute circles around them). The engine's "
            "'area' policy would random-walk each station group over its whole district and "
            "each PTU team over the whole city, which spreads them evenly over zones and undoes "
            "the demand-weighted posting; set patrol.policy: area to study roaming patrols.",
        ),
        Assumption(
            "checkpoints",
            {
                "count": SMART_CHECKPOINTS,
                "mode": "smart",
                **{f"{k}_lanes": int(v["lanes"]) for k, v in cps.items()},
                **{f"{k}_per_hour": v["rate_per_hour"] for k, v in cps.items()},
                "watchlist_hit_probability": WATCHLIST_HIT,
            },
            "The report names 16 smart checkpoints but only 'north of the Haining roundabout' "
            "and the Nanhu, Wuzhen and Yanguan scenic-area checks. 12 road checks are guessed at "
            "the city-border crossings of the main expressways and national roads (a guessed "
            "crossing snapped to the nearest point of the border, then up to 1 km inside; the "
            "two bridge heads on the coast), one at the Haining-Nanhu border for the Haining "
            "roundabout, and 3 scenic visitor checks. Lane times are the "
            "values of scenarios/jiaxing_checkpoint.yaml (smart: 0.35 min classification, 5% "
            "flagged for a 2.5 min manual check); volumes through the lanes are guesses that "
            "keep the lanes ~30% busy, so a vehicle passes in about the reported 30 s. Watch-"
            "list hits: the report's 1,059 arrests in 3 years from all sensing is ~1 a day; "
            "2e-5 of the ~47,000 vehicles checked a day gives ~1 interception incident "
            "(priority 1) a day.",
        ),
        Assumption(
            "response_targets",
            {"core_min": 1, "key_min": 3, "anywhere_min": 5},
            "The '1-3-5 minute' rapid-response norm: police reach core areas within 1 minute, "
            "key areas within 3, anywhere within 5. Targets only, not inputs: 'core' zones hold "
            "a district seat or lie within 2 km of it, 'key' zones within 6 km (see the "
            "targets key). The 1-minute goal is met by fixed posts on foot, not by dispatch "
            "with a 1-min turnout.",
        ),
    ]

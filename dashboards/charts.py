"""Altair chart definitions of the daily report, each a pure function of a data frame."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from pathlib import Path

import altair as alt
import pandas as pd
from altair.utils.schemapi import debug_mode

WIDTH = 500


def no_data(title: str) -> alt.Chart:
    """A chart saying there is nothing to show: a quiet day has no sources, countries or ports."""
    note = pd.DataFrame({"note": ["no data for this day"]})
    return (
        alt.Chart(note, title=title)
        .mark_text(size=14, color="#777")
        .encode(text="note:N")
        .properties(width=WIDTH, height=60)
    )


def abnormal_share(daily: pd.DataFrame) -> alt.Chart:
    """Share of abnormal (malicious) sources among all sources, per day."""
    return (
        alt.Chart(daily, title="Abnormal share of sources per day")
        .mark_bar()
        .encode(
            x=alt.X("event_date:N", title="day (UTC)"),
            y=alt.Y("abnormal_share:Q", title="abnormal / all sources", axis=alt.Axis(format="%")),
            tooltip=[
                "event_date:N",
                "sources:Q",
                "suspected_sources:Q",
                "abnormal_sources:Q",
                alt.Tooltip("abnormal_share:Q", format=".1%"),
            ],
        )
        .properties(width=WIDTH, height=220)
    )


def hourly_trend(hourly: pd.DataFrame, tz: str) -> alt.Chart:
    """Abnormal sources per local hour, one line per day (paper 000 finds the peak at 22:00-24:00)."""
    return (
        alt.Chart(hourly, title=f"Abnormal sources per hour ({tz})")
        .mark_line(point=True)
        .encode(
            x=alt.X("hour:O", title="hour of day"),
            y=alt.Y("abnormal_sources:Q", title="abnormal sources"),
            color=alt.Color("event_date:N", title="day"),
            tooltip=["event_date:N", "hour:O", "abnormal_sources:Q", "sources:Q", "events:Q"],
        )
        .properties(width=WIDTH, height=240)
    )


def by_country(geo: pd.DataFrame) -> alt.Chart:
    """Top countries by abnormal sources (all sources shown beside)."""
    data = geo.groupby(["country_code", "country"], as_index=False)[["sources", "abnormal_sources"]].sum()
    data = data.sort_values(["abnormal_sources", "sources", "country_code"], ascending=[False, False, True]).head(15)
    if data.empty:  # an offset channel over no rows gives Vega an invalid size
        return no_data("Sources by country (top 15)")
    return (
        alt.Chart(data, title="Sources by country (top 15)")
        .transform_fold(["sources", "abnormal_sources"], as_=["measure", "count"])
        .mark_bar()
        .encode(
            y=alt.Y("country_code:N", sort="-x", title="country"),
            x=alt.X("count:Q", title="sources"),
            color=alt.Color("measure:N", title=""),
            yOffset="measure:N",
            tooltip=["country:N", "country_code:N", "measure:N", "count:Q"],
        )
        .properties(width=WIDTH, height=360)
    )


def by_region(geo: pd.DataFrame) -> alt.Chart:
    """Top regions by abnormal sources."""
    data = geo[geo["region"].fillna("") != ""].copy()
    data["place"] = data["country_code"] + " / " + data["region"]
    data = data.groupby("place", as_index=False)[["sources", "abnormal_sources"]].sum()
    data = data.sort_values(["abnormal_sources", "sources", "place"], ascending=[False, False, True]).head(15)
    if data.empty:
        return no_data("Abnormal sources by region (top 15)")
    return (
        alt.Chart(data, title="Abnormal sources by region (top 15)")
        .mark_bar(color="#c0392b")
        .encode(
            y=alt.Y("place:N", sort="-x", title="region"),
            x=alt.X("abnormal_sources:Q", title="abnormal sources"),
            tooltip=["place:N", "sources:Q", "abnormal_sources:Q"],
        )
        .properties(width=WIDTH, height=300)
    )


ASSETS = Path(__file__).resolve().parent / "assets"
# world-atlas 2.0.2 (ISC), Natural Earth 1:110m countries; see assets/README.md.
ATLAS = ASSETS / "countries-110m.json"
ATLAS_SHA256 = "2516c915867c7baf18ddec727aec46c315541a07cfb3d79a6559b05d5e94eee8"


@functools.cache
def world_atlas() -> dict:
    """The vendored countries TopoJSON, checked against its recorded sha256."""
    raw = ATLAS.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != ATLAS_SHA256:
        raise ValueError(f"{ATLAS} has sha256 {digest}, expected {ATLAS_SHA256} (see assets/README.md)")
    return json.loads(raw)


@functools.cache
def iso_numeric() -> dict[str, str]:
    """ISO 3166-1 alpha-2 -> numeric (3 digits), the atlas's feature id."""
    with (ASSETS / "iso3166_numeric.csv").open(encoding="utf-8", newline="") as f:
        return {row["alpha_2"]: row["numeric"] for row in csv.DictReader(f)}


def country_shares(geo: pd.DataFrame) -> pd.DataFrame:
    """Sources per country keyed by the atlas's id; labels like 'private' or '??' have no id and drop out."""
    data = geo.groupby(["country_code", "country"], as_index=False)[["sources", "abnormal_sources"]].sum()
    data["id"] = data["country_code"].map(iso_numeric())
    data = data.dropna(subset=["id"]).copy()
    data["abnormal_share"] = (data["abnormal_sources"] / data["sources"].where(data["sources"] > 0)).fillna(0.0)
    return data[["id", "country_code", "country", "sources", "abnormal_sources", "abnormal_share"]]


def source_map(geo: pd.DataFrame) -> alt.LayerChart:
    """Countries shaded by abnormal sources on a world basemap, located sources as circles (size = sources).

    The basemap is the vendored world-atlas TopoJSON inlined into the spec, so the map needs no
    network when it is built (vl-convert) or viewed (the HTML report). It joins the chart last:
    every Altair method below copies the chart deeply, and with the atlas inside them building the
    map took 0.4-0.6 s of CPU a report (now under 0.1 s); the spec is the same (tests/test_report_charts.py).
    """
    points = geo.dropna(subset=["lat", "lon"])
    points = points.groupby(["country_code", "region"], as_index=False).agg(
        lat=("lat", "mean"),
        lon=("lon", "mean"),
        sources=("sources", "sum"),
        abnormal_sources=("abnormal_sources", "sum"),
    )
    atlas = alt.DataFormat(type="topojson", feature="countries")
    stand_in = alt.InlineData(values={"type": "Topology", "objects": {}, "arcs": []}, format=atlas)
    fields = ["sources", "abnormal_sources", "abnormal_share"]
    sphere = alt.Chart(alt.sphere()).mark_geoshape(fill="#eef4fa")
    grid = alt.Chart(alt.graticule(step=[30, 30])).mark_geoshape(stroke="#d5dde5", strokeWidth=0.5, fill=None)
    shaded = (
        alt.Chart(stand_in, name="countries")
        .mark_geoshape(stroke="#fff", strokeWidth=0.5)
        .transform_lookup(lookup="id", from_=alt.LookupData(country_shares(geo), key="id", fields=fields))
        # Countries without sources get zeros: a null colour field would drop their shape from the map.
        .transform_calculate(
            sources="datum.sources || 0",
            abnormal_sources="datum.abnormal_sources || 0",
            abnormal_share="datum.abnormal_share || 0",
        )
        .encode(
            color=alt.condition(
                "datum.abnormal_sources > 0",
                alt.Color("abnormal_sources:Q", scale=alt.Scale(scheme="reds"), title="abnormal sources"),
                alt.value("#dde3e8"),
            ),
            tooltip=[
                alt.Tooltip("properties.name:N", title="country"),
                alt.Tooltip("sources:Q"),
                alt.Tooltip("abnormal_sources:Q", title="abnormal"),
                alt.Tooltip("abnormal_share:Q", title="abnormal share", format=".1%"),
            ],
        )
    )
    located = (
        alt.Chart(points, name="sources")
        .mark_circle(fillOpacity=0.25, stroke="#1f4e79", strokeWidth=1)
        .encode(
            longitude="lon:Q",
            latitude="lat:Q",
            size=alt.Size("sources:Q", scale=alt.Scale(range=[15, 500]), title="sources"),
            color=alt.value("#1f4e79"),
            tooltip=["country_code:N", "region:N", "sources:Q", "abnormal_sources:Q"],
        )
    )
    # Country-level providers (iptocc) give no coordinates: the choropleth alone then, with no empty size legend.
    layers = [sphere, grid, shaded] + ([located] if len(points) else [])
    chart = alt.layer(*layers, title="Where the sources are").project("equalEarth").properties(width=WIDTH, height=260)
    # Altair checks a schema object as it is made (debug mode), walking all of the atlas, and checks
    # the whole spec again in `to_dict`: only the second check is kept for our vendored constant.
    with debug_mode(False):
        chart.layer[layers.index(shaded)].data = alt.InlineData(values=world_atlas(), format=atlas)
    return chart


def top_ports(ports: pd.DataFrame) -> alt.Chart:
    """Ports most probed by suspected sources, by protocol."""
    data = ports.copy()
    data["port"] = data["dst_port"].astype(str) + "/" + data["proto"]
    data = data.sort_values(["events", "dst_port", "proto"], ascending=[False, True, True]).head(20)  # ties by port
    if data.empty:
        return no_data("Top probed ports by protocol")
    return (
        alt.Chart(data, title="Top probed ports by protocol")
        .mark_bar()
        .encode(
            y=alt.Y("port:N", sort="-x", title="port/protocol"),
            x=alt.X("sources:Q", title="suspected sources"),
            color=alt.Color("proto:N", title="protocol"),
            tooltip=["port:N", "events:Q", "sources:Q", "abnormal_sources:Q"],
        )
        .properties(width=WIDTH, height=380)
    )

"""Altair chart definitions of the daily report, each a pure function of a data frame."""

from __future__ import annotations

import altair as alt
import pandas as pd

WIDTH = 500


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
    data = data.sort_values(["abnormal_sources", "sources"], ascending=False).head(15)
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
    data = data.sort_values(["abnormal_sources", "sources"], ascending=False).head(15)
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


def source_map(geo: pd.DataFrame) -> alt.LayerChart:
    """Located sources on a graticule (equal-earth projection): size = sources, colour = abnormal."""
    data = geo.dropna(subset=["lat", "lon"])
    data = data.groupby(["country_code", "region"], as_index=False).agg(
        lat=("lat", "mean"),
        lon=("lon", "mean"),
        sources=("sources", "sum"),
        abnormal_sources=("abnormal_sources", "sum"),
    )
    grid = alt.Chart(alt.graticule(step=[30, 30])).mark_geoshape(stroke="#ccc", strokeWidth=0.5, fill=None)
    sphere = alt.Chart(alt.sphere()).mark_geoshape(fill="#eef4fa")
    points = (
        alt.Chart(data)
        .mark_circle(opacity=0.7)
        .encode(
            longitude="lon:Q",
            latitude="lat:Q",
            size=alt.Size("sources:Q", scale=alt.Scale(range=[20, 600]), title="sources"),
            color=alt.Color("abnormal_sources:Q", scale=alt.Scale(scheme="reds"), title="abnormal"),
            tooltip=["country_code:N", "region:N", "sources:Q", "abnormal_sources:Q"],
        )
    )
    return (
        alt.layer(sphere, grid, points, title="Where the sources are")
        .project("equalEarth")
        .properties(width=WIDTH, height=320)
    )


def top_ports(ports: pd.DataFrame) -> alt.Chart:
    """Ports most probed by suspected sources, by protocol."""
    data = ports.copy()
    data["port"] = data["dst_port"].astype(str) + "/" + data["proto"]
    data = data.sort_values("events", ascending=False).head(20)
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

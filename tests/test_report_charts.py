"""The report's chart specs: the source map carries the whole world atlas, however its layers were built."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboards import charts

LOCATED = pd.DataFrame(
    {
        "event_date": ["2023-08-20"] * 3,
        "country_code": ["DE", "US", "private"],
        "country": ["Germany", "United States", "private"],
        "region": ["Hesse", "California", ""],
        "lat": [50.1, 37.4, None],
        "lon": [8.7, -122.1, None],
        "sources": [4, 9, 2],
        "abnormal_sources": [1, 3, 0],
        "events": [40, 90, 5],
    }
)


@pytest.mark.parametrize(
    "geo",
    [LOCATED, LOCATED.assign(lat=None, lon=None), LOCATED.iloc[:0]],
    ids=["located sources", "countries only", "no sources"],
)
def test_source_map_inlines_the_whole_atlas_as_its_countries_layer(geo: pd.DataFrame) -> None:
    spec = charts.source_map(geo).to_dict()
    countries = next(layer for layer in spec["layer"] if layer.get("name") == "countries")
    assert countries["data"]["format"] == {"type": "topojson", "feature": "countries"}
    data = spec["datasets"][countries["data"]["name"]]
    assert data == charts.world_atlas()  # the atlas itself, not the stand-in the layers were built on
    # named by its content as Altair names inline data, so the spec (and the report) is unchanged
    import altair.vegalite.v6.api as api

    assert countries["data"]["name"] == api._dataset_name(charts.world_atlas())
    topologies = [d for d in spec["datasets"].values() if isinstance(d, dict) and d.get("type") == "Topology"]
    assert len(topologies) == 1
    json.dumps(spec)  # the report embeds it as JSON

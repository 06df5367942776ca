"""Build the daily report: a self-contained HTML page (Vega libraries inlined, opens offline from
disk) and a PNG of every chart (vl-convert), from the warehouse opened read-only."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dashboards import charts
from pipelines import atomic, in_force
from pipelines.geo import files as geo_files
from pipelines.geo import source as geo_source
from pipelines.layout import ReportFolder, layout
from pipelines.settings import Settings

TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))


@dataclass
class Report:
    """Paths of a built report and its key figures: plain data the email (`pipelines.notify`) reads."""

    html: Path
    pngs: dict[str, Path] = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    day: date | None = None
    dq_failed: list[str] = field(default_factory=list)
    templates: Path = TEMPLATES  # the email's templates live with the report's


def _script_json(spec: dict) -> str:
    """JSON safe to place inside a <script> element (no closing tag, no comment opener)."""
    return json.dumps(spec).replace("</", "<\\/").replace("<!--", "<\\!--")


def vega_bundle() -> str:
    """The Vega, Vega-Lite and Vega-Embed libraries as one script defining `window.vegaEmbed`.

    vl-convert bundles them anew on every call (1.8 s of a 12 s small-day run, measured); the
    result depends only on vl-convert's version, so it is kept in the user's cache folder.
    """
    import vl_convert as vlc

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scansense"
    path = cache / f"vega-embed-bundle-{vlc.__version__}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vlc.javascript_bundle()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, bundle)
    except OSError:
        pass  # a read-only home only costs the bundling again next time
    return bundle


def geo_credit(settings: Settings) -> str:
    """Credit line for the report footer (DB-IP's licence asks for it), from the geolocation files in use."""
    found = geo_files.offline_files(settings)
    used = " ".join(p.name for p in found.mmdb + found.asn).lower()
    if not used or "dbip" in used or "asn" in used:
        return "IP geolocation by DB-IP.com (https://db-ip.com), CC BY 4.0; country fallback from RIR delegation data (iptocc)."
    return f"IP geolocation from {used}."


def _q(con: duckdb.DuckDBPyConnection, sql: str, day: date):
    return con.execute(sql, {"day": day} if "$day" in sql else {}).df()


# The day's malicious sources, new (first seen that day in the lake) or returning, as of the day
# (its source_history_state and organizations): a report does not change when later days are added.
NEW_AND_RETURNING = """
SELECT r.src_ip, CASE WHEN h.first_date = $day THEN 'new' ELSE 'returning' END AS status,
    h.first_date, h.days_active, r.risk, coalesce(h.research_org, nullif(o.org, 'unclustered')) AS org,
    coalesce(h.tags, []::VARCHAR[]) AS tags
FROM source_risk AS r
JOIN source_history_state AS h ON h.src_ip = r.src_ip AND h.event_date = $day
LEFT JOIN scanner_orgs AS o ON o.src_ip = r.src_ip AND o.event_date = $day
WHERE r.event_date = $day AND r.malicious
  AND r.src_ip NOT IN (SELECT src_ip FROM source_history WHERE is_allow_listed)
ORDER BY status, r.risk DESC, r.src_ip
"""
# The trend charts show the weeks up to the day: a report depends on its day, not on the days run
# after it, and Altair's 5,000-row limit is never reached (a year of hourly rows is 8,760).
TREND_DAYS = 28


def _inputs(con: duckdb.DuckDBPyConnection, day: date) -> list[dict]:
    """The input files with events on `day`, and whether each under-counts (a lake from before the column: no)."""
    have = {
        c
        for (c,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'ingest_files'").fetchall()
    }
    if not {"days", "path"} <= have:
        return []
    flag = "coalesce(undercounts, false)" if "undercounts" in have else "false"
    why = "undercount_reason" if "undercount_reason" in have else "NULL"
    rows = con.execute(
        f"""SELECT path, format, rows, status, {flag} AS undercounts, {why} AS undercount_reason
            FROM ingest_files WHERE list_contains(days, $day) ORDER BY undercounts DESC, path""",
        {"day": day},
    ).fetchall()
    keys = ("path", "format", "rows", "status", "undercounts", "undercount_reason")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def _new_and_returning(con: duckdb.DuckDBPyConnection, day: date) -> list[dict]:
    """New and returning malicious sources of `day`; none from a warehouse without the history's state."""
    present = """SELECT (SELECT count(*) FROM duckdb_views() WHERE view_name = 'source_history_state' AND NOT internal)
                      + (SELECT count(*) FROM duckdb_tables() WHERE table_name = 'source_history_state')"""
    if not con.execute(present).fetchone()[0]:
        return []
    return con.execute(NEW_AND_RETURNING, {"day": day}).fetch_arrow_table().to_pylist()


def _dq_links(out_dir: Path, day: date, dq_dir: Path | None) -> dict[str, str]:
    """Links to the GX Data Docs index and the day's DQ summary: relative for the report on disk,
    absolute (file URI) for the email, whose attachment is opened from elsewhere."""
    dq_dir = Path(dq_dir) if dq_dir is not None else layout(out_dir.resolve().parent.parent).dq
    links: dict[str, str] = {}
    for key, path in (("dq_docs", dq_dir / "index.html"), ("dq_summary", dq_dir / f"dq-{day.isoformat()}.html")):
        if path.is_file():
            links[key] = Path(os.path.relpath(path.resolve(), out_dir.resolve())).as_posix()
            links[f"{key}_uri"] = path.resolve().as_uri()
    return links


def build_report(
    db_path: Path,
    day: date,
    out_dir: Path,
    settings: Settings,
    dq_failed: list[str] | None = None,
    dq_dir: Path | None = None,
) -> Report:
    """Write `day`'s report in `out_dir` (report.html, a PNG a chart, report.json) from the warehouse at `db_path`.

    `dq_dir` holds the GX Data Docs the report links to; by default `<warehouse>/dq`, the warehouse
    being two levels above `out_dir` (`<warehouse>/reports/<day>`).
    """
    import vl_convert as vlc

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ReportFolder(out_dir).manifest.unlink(missing_ok=True)  # a build that fails leaves no report to mail
    dq_links = _dq_links(out_dir, day, dq_dir)
    with duckdb.connect(str(db_path), read_only=True) as con:
        trend = f"event_date BETWEEN $day - INTERVAL {TREND_DAYS - 1} DAY AND $day"
        daily = _q(con, f"SELECT * FROM daily_summary WHERE {trend} ORDER BY event_date", day)
        hourly = _q(con, f"SELECT * FROM hourly_abnormal WHERE {trend} ORDER BY event_date, hour", day)
        geo = _q(con, "SELECT * FROM geo_abnormal WHERE event_date = $day", day)
        ports = _q(con, "SELECT * FROM port_abnormal WHERE event_date = $day", day)
        risky = _q(
            con,
            """SELECT src_ip, country_code, risk, traffic_score, time_score, geo_score, probes, research_org, reasons
                           FROM source_risk WHERE event_date = $day ORDER BY risk DESC, probes DESC, src_ip LIMIT 25""",
            day,
        )
        slow = _q(
            con,
            """SELECT src_ip, kind, fixed_value, period_start, period_end, windows, targets, cond_entropy
                          FROM scan_slow WHERE event_date = $day AND is_scan ORDER BY windows DESC, src_ip, kind, fixed_value, period_start LIMIT 25""",
            day,
        )
        # every detector's findings of the day: a new detector shows here without a change to the report
        found = _q(
            con,
            """SELECT detector, kind, count(DISTINCT src_ip) AS sources, count(*) AS findings
                          FROM findings WHERE event_date = $day GROUP BY ALL ORDER BY sources DESC, detector, kind""",
            day,
        )
        orgs = _q(
            con,
            """SELECT o.org, o.method, count(*) AS sources, count(r.src_ip) AS active_today
                          FROM scanner_orgs AS o LEFT JOIN source_risk AS r ON r.src_ip = o.src_ip AND r.event_date = $day
                          WHERE o.event_date = $day AND o.org <> 'unclustered' GROUP BY ALL ORDER BY active_today DESC, sources DESC, o.org, o.method LIMIT 25""",
            day,
        )
        sightings = _new_and_returning(con, day)
        inputs = _inputs(con, day)
        try:
            geo_answers = geo_source.answers(con, day)
        except duckdb.Error:  # a warehouse from before geo_ip.ip_class: the source is still named
            geo_answers = {}
    risky, slow, orgs = (f.astype(object).where(f.notna(), None) for f in (risky, slow, orgs))  # NaN -> blank cell
    daily["event_date"] = daily["event_date"].astype(str)
    hourly["event_date"] = hourly["event_date"].astype(str)
    today = daily[daily["event_date"] == day.isoformat()]
    figures = (
        today.iloc[0].to_dict()
        if len(today)
        else {"sources": 0, "abnormal_sources": 0, "abnormal_share": 0.0, "events": 0}
    )
    figures = {k: (v.item() if hasattr(v, "item") else v) for k, v in figures.items()}
    figures["top_ports"] = [
        f"{p}/{t}"
        for p, t in ports.sort_values(["sources", "dst_port", "proto"], ascending=[False, True, True])
        .head(5)[["dst_port", "proto"]]
        .itertuples(index=False)
    ]
    by_cc = geo.groupby("country_code", as_index=False)["abnormal_sources"].sum()
    by_cc = by_cc.sort_values(["abnormal_sources", "country_code"], ascending=[False, True]).head(5)
    figures["top_countries"] = [f"{cc} ({int(n)})" for cc, n in by_cc.itertuples(index=False) if n > 0]
    figures["new_malicious"] = sum(1 for r in sightings if r["status"] == "new")
    figures["returning_malicious"] = sum(1 for r in sightings if r["status"] == "returning")
    # Inputs that log fewer probes than arrive (UFW's rate-limited logging, a sensor's drops): said
    # in the report and the email, since the fast threshold cannot be judged on them.
    figures["undercounting_inputs"] = sum(1 for i in inputs if i["undercounts"])
    # The email templates only see `figures`: the Data Docs location travels with them.
    figures["dq_docs"] = dq_links.get("dq_docs_uri", "")
    # The settings that judged the sources and the geolocation source that placed them: the email
    # shows them too. Plain text here, escaped by each template.
    geo_used = geo_source.summary(settings, geo_answers)
    figures["site"] = in_force.site(settings.site)["line"]
    figures["geo_source"] = geo_used["line"]
    figures["geo_fallback"] = geo_used["fallback"]

    specs = {
        "abnormal_share": charts.abnormal_share(daily),
        "hourly_trend": charts.hourly_trend(hourly, settings.site.timezone),
        "by_country": charts.by_country(geo),
        "by_region": charts.by_region(geo),
        "source_map": charts.source_map(geo),
        "top_ports": charts.top_ports(ports),
    }
    spec_json = {name: chart.to_dict() for name, chart in specs.items()}
    folder = ReportFolder(out_dir)
    pngs = {}
    for name, spec in spec_json.items():
        path = folder.chart(name)
        path.write_bytes(vlc.vegalite_to_png(spec, scale=1))
        pngs[name] = path
    embed = (
        "const specs = "
        + _script_json(spec_json)
        + ";\n"
        + (
            "const errors = [];\n"
            "for (const [id, spec] of Object.entries(specs)) {\n"
            "  vegaEmbed('#' + id, spec, {actions: false, renderer: 'svg'}).catch(e => {errors.push(String(e));"
            " document.getElementById('errors').textContent = errors.join('\\n');});\n"
            "}\n"
        )
    )
    try:
        credit = geo_credit(settings)
    except OSError:  # an unreadable geo folder must not cost the report
        credit = "IP geolocation by DB-IP.com (CC BY 4.0)"
    page = _ENV.get_template("report.html.j2").render(
        day=day.isoformat(),
        figures=figures,
        days=list(daily["event_date"]),
        charts=list(specs),
        risky=risky.to_dict(orient="records"),
        slow=slow.to_dict(orient="records"),
        found=found.to_dict(orient="records"),
        orgs=orgs.to_dict(orient="records"),
        sightings=sightings[:25],
        inputs=inputs[:50],
        inputs_more=max(len(inputs) - 50, 0),
        dq_failed=dq_failed or [],
        dq_links=dq_links,
        credit=credit,
        tz=settings.site.timezone,
        bundle=vega_bundle().replace("</script", "<\\/script"),
        embed=embed,
    )
    atomic.write_text(folder.html, page)
    report = Report(html=folder.html, pngs=pngs, figures=figures, day=day, dq_failed=list(dq_failed or []))
    # Written last: the report email (`read_report`) mails the files this names, never renders again.
    manifest = {"day": day.isoformat(), "figures": figures, "dq_failed": report.dq_failed, "charts": list(pngs)}
    atomic.write_text(folder.manifest, json.dumps(manifest, indent=1))
    return report


def read_report(folder: ReportFolder, day: date) -> Report:
    """The report `build_report` wrote in `folder` for `day`, as the email needs it (nothing is rendered).

    A missing file (or another day's) raises FileNotFoundError with one line naming the day and the
    file: the day's report was never written (its run was rejected early, or its report step failed).
    """
    why = "the day's report was not written (run rejected, or its report step failed)"
    try:
        manifest = json.loads(folder.manifest.read_text(encoding="utf-8"))
        written = manifest["day"]
        report = Report(
            html=folder.html,
            pngs={name: folder.chart(name) for name in manifest["charts"]},
            figures=dict(manifest["figures"]),
            day=day,
            dq_failed=list(manifest["dq_failed"]),
        )
    except FileNotFoundError:
        raise FileNotFoundError(f"no report for {day.isoformat()}: {folder.manifest} is missing; {why}") from None
    except (ValueError, KeyError, TypeError) as exc:  # written atomically: only a hand edit gets here
        raise ValueError(f"no report for {day.isoformat()}: {folder.manifest} is unreadable ({exc!r})") from None
    if written != day.isoformat():
        raise FileNotFoundError(f"no report for {day.isoformat()}: {folder.manifest} is the report of {written}")
    for path in (report.html, *report.pngs.values()):
        if not path.is_file():
            raise FileNotFoundError(f"no report for {day.isoformat()}: {path} is missing; {why}")
    return report

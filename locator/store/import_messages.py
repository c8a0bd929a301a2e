"""Row errors and warnings of a bulk import, in the user's terms and in both languages.

A :class:`RowIssue` names the spreadsheet's row number, the file's own column
header (``类型``, not ``type``), the bad value and the accepted values, with a
Chinese and an English message, so that the CLI prints one line per issue and a
web page renders a table. :func:`explain` turns the core's validation errors
(English, internal field names) into such issues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..stations.vocab import (
    ACCESS,
    AMENITIES,
    ENTRY_METHODS,
    SOURCES,
    STATION_TYPES,
    STATUSES,
    TOILET_ACCESS,
    Vocabulary,
)
from .mapping import FIELD_LABELS_ZH

#: Vocabularies by the field they validate.
FIELD_VOCABULARIES: dict[str, Vocabulary] = {
    "type": STATION_TYPES, "amenities": AMENITIES, "access": ACCESS, "status": STATUSES,
    "source": SOURCES, "entry_method": ENTRY_METHODS, "toilet_access": TOILET_ACCESS,
}
FIELD_LABELS_EN: dict[str, str] = {
    "id": "id", "name": "name", "type": "type", "lon": "longitude", "lat": "latitude",
    "address": "address", "district_adcode": "district code", "district_name": "district",
    "operator": "operator", "amenities": "amenity", "opening_hours": "opening hours",
    "access": "access", "entry_method": "how to get in", "entry_app": "app for the QR code",
    "staffed_hours": "staffed hours", "entry_note": "note for the door",
    "toilet_access": "toilet access", "phone": "phone", "status": "status",
    "verified_date": "verified date", "capacity": "seats",
    "source": "source",
}
_AMENITY_SPLIT = re.compile(r"[;,，；、|/]")


@dataclass(frozen=True)
class RowIssue:
    """One error or warning about one row (``row`` None: about the whole file).

    Attributes
    ----------
    row
        Row number as the spreadsheet shows it (the header is row 1); the feature
        number for GeoJSON.
    column
        The file's own header of the offending column (``类型``), or None.
    field
        The station field (``type``), or None.
    value
        The offending cell value as read (None if the cell was empty).
    kind
        A machine-readable code: ``required``, ``unknown_value``, ``not_a_number``,
        ``out_of_range``, ``outside_china``, ``invalid_hours``, ``invalid``,
        ``duplicate_id``, ``duplicate_row``, ``outside_districts``,
        ``district_mismatch``, ``unknown_district``, ``possible_duplicate``.
    message_zh, message_en
        What is wrong and what would be valid, without the row/column prefix.
    accepted_zh, accepted_en
        The accepted values (labels) when the field has a closed list.
    severity
        ``error`` (the import cannot run) or ``warning`` (flagged for review).
    """

    row: int | None
    column: str | None
    field: str | None
    value: Any
    kind: str
    message_zh: str
    message_en: str
    accepted_zh: tuple[str, ...] = ()
    accepted_en: tuple[str, ...] = ()
    severity: str = "error"

    def message(self, lang: str = "zh") -> str:
        return self.message_en if lang.startswith("en") else self.message_zh

    def accepted(self, lang: str = "zh") -> tuple[str, ...]:
        return self.accepted_en if lang.startswith("en") else self.accepted_zh

    def line(self, lang: str = "zh") -> str:
        """One line for a terminal: ``第 5 行，列“类型”：……`` / ``row 5, column "类型": ...``."""
        en = lang.startswith("en")
        where = []
        if self.row is not None:
            where.append(f"row {self.row}" if en else f"第 {self.row} 行")
        if self.column:
            where.append(f'column "{self.column}"' if en else f"列“{self.column}”")
        head = (", " if en else "，").join(where)
        sep = ": " if en else "："
        return f"{head}{sep}{self.message(lang)}" if head else self.message(lang)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """JSON-ready; with ``lang``, ``message`` and ``accepted`` in that language too."""
        d: dict[str, Any] = {
            "row": self.row, "column": self.column, "field": self.field,
            "value": None if self.value is None else str(self.value), "kind": self.kind,
            "severity": self.severity, "message_zh": self.message_zh,
            "message_en": self.message_en, "accepted_zh": list(self.accepted_zh),
            "accepted_en": list(self.accepted_en),
        }
        if lang:
            d["message"] = self.message(lang)
            d["accepted"] = list(self.accepted(lang))
        return d

    def as_error(self) -> RowError:
        return RowError(self)


class RowError(InvalidInput):
    """A :class:`RowIssue` as an exception (English text; the issue is ``.issue``)."""

    def __init__(self, issue: RowIssue):
        super().__init__(f"{issue.field or issue.column}: {issue.message_en}",
                         field=issue.field, row=issue.row)
        self.issue = issue


def _q(v: Any) -> str:
    return f"“{v}”"


def _vocab_issue(fld: str, value: Any, vocab: Vocabulary) -> tuple[str, str, str, tuple, tuple]:
    zh_name = FIELD_LABELS_ZH.get(fld, fld)
    en_name = FIELD_LABELS_EN.get(fld, fld)
    acc_zh = tuple(t.zh for t in vocab)
    acc_en = tuple(t.en for t in vocab)
    return ("unknown_value",
            f"{_q(value)}不是可接受的{zh_name}；可接受的值：{'、'.join(acc_zh)}",
            f"{value!r} is not an accepted {en_name}; accepted: {', '.join(acc_en)} "
            f"(or the codes {', '.join(vocab.codes)})",
            acc_zh, acc_en)


def bad_amenities(value: Any) -> list[str]:
    """The parts of an amenities cell that are not amenities."""
    parts = _AMENITY_SPLIT.split(value) if isinstance(value, str) else [str(p) for p in value]
    bad = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        try:
            AMENITIES.parse(p)
        except InvalidInput:
            bad.append(p)
    return bad


def explain(fld: str, value: Any, exc: InvalidInput, *, row: int | None, column: str | None,
            crs: str = "wgs84") -> RowIssue:
    """A bilingual :class:`RowIssue` for a validation error of ``fld`` = ``value``."""
    zh_name = FIELD_LABELS_ZH.get(fld, fld)
    msg = exc.message
    if ": " in msg and msg.split(": ", 1)[0] == fld:
        msg = msg.split(": ", 1)[1]
    acc_zh: tuple[str, ...] = ()
    acc_en: tuple[str, ...] = ()
    if value is None or (isinstance(value, str) and not value.strip()) or "is required" in msg:
        kind, zh = "required", f"{zh_name}是必填项，不能为空"
        en = f"{FIELD_LABELS_EN.get(fld, fld)} is required and must not be empty"
        if fld in FIELD_VOCABULARIES:
            acc_zh = tuple(t.zh for t in FIELD_VOCABULARIES[fld])
            acc_en = tuple(t.en for t in FIELD_VOCABULARIES[fld])
            zh += f"；可接受的值：{'、'.join(acc_zh)}"
            en += f"; accepted: {', '.join(acc_en)}"
    elif fld == "amenities" and "unknown value" in msg:
        bad = bad_amenities(value) or [str(value)]
        kind, zh, en, acc_zh, acc_en = _vocab_issue(fld, "、".join(bad), AMENITIES)
        value = "、".join(bad) if len(bad) > 1 else bad[0]
        if len(bad) > 1:
            zh = zh.replace("不是可接受的设施", "不是可接受的设施（多个设施用 ; 或 、 分隔）")
    elif fld in FIELD_VOCABULARIES and "unknown value" in msg:
        kind, zh, en, acc_zh, acc_en = _vocab_issue(fld, value, FIELD_VOCABULARIES[fld])
    elif fld in ("lon", "lat"):
        rng = "-180..180" if fld == "lon" else "-90..90"
        if "outside China" in msg:
            kind = "outside_china"
            zh = (f"{value} 在中国境外；{crs.upper()} 坐标只存在于中国境内，请检查经纬度是否填反"
                  "或坐标系是否选错")
            en = msg + "; check for swapped longitude/latitude or a wrong coordinate system"
        elif "out of range" in msg:
            kind, zh, en = "out_of_range", f"{value} 超出范围；{zh_name}应在 {rng} 之间", msg
        else:
            kind = "not_a_number"
            zh = f"{_q(value)}不是数字；{zh_name}应为十进制度数（{rng}），如 117.1846"
            en = msg
    elif fld in ("opening_hours", "staffed_hours"):
        kind = "invalid_hours"
        from ..stations.hours_text import hours_error_message

        # the same explanation the staff form gives, in each language (no parser English
        # inside the Chinese message)
        zh = f"{_q(value)}：{hours_error_message(str(value), exc, 'zh')}"
        en = f"{value!r}: {hours_error_message(str(value), exc, 'en')}"
    elif "characters long" in msg:
        kind, zh, en = "too_long", f"{zh_name}太长：{msg.split(' characters')[0].split()[-1]} " \
            f"个字符，最多 {msg.rsplit('at most ', 1)[-1].split()[0]} 个", msg
    elif "control characters" in msg:
        kind, zh, en = "invalid", f"{zh_name}含有控制字符（如换行符）", msg
    elif fld == "phone":
        kind, zh, en = "invalid", f"{_q(value)}不是电话号码（只能包含数字、+、-、括号、空格）", msg
    elif fld == "district_adcode":
        kind, zh, en = "invalid", f"{_q(value)}不是 6 位行政区划代码（如 320303）", msg
    elif fld == "verified_date":
        kind, zh, en = "invalid", f"{_q(value)}不是日期；请使用 YYYY-MM-DD（如 2026-03-01）", msg
    elif fld == "capacity":
        kind = "invalid"
        zh = (f"{_q(value)}不是座位数；请填写 1 至 10,000 的整数（如 12 或 12座），"
              "未统计请留空")
        en = (f"{value!r} is not a number of seats; use a whole number 1-10,000 (e.g. 12), "
              "or leave it empty if not recorded")
    elif fld == "id":
        kind, zh, en = "invalid", (f"{_q(value)}不是有效编号；请用 1-64 个字母、数字或 _ - . :，"
                                   "以字母或数字开头"), msg
    else:
        kind, zh, en = "invalid", f"{_q(value)}无效（{msg}）", msg
    return RowIssue(row, column, fld, value, kind, zh, en, acc_zh, acc_en)

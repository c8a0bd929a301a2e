"""Bulk import from the web, without Flask: uploads kept between the steps, saved column
mappings, plans with the account's district scope checked, and the real import as a
background job whose progress any worker on the same host can read.

The steps call the import library (:mod:`locator.store.importing`) exactly as
``locator import`` does; what this module adds is what a browser needs between requests.

Uploads
    The file is kept in a directory of its own under ``root`` (``LOCATOR_UPLOAD_DIR``,
    default the system temp dir), named by a random id and bound to the account that
    uploaded it: ``meta.json`` (owner, file name, chosen CRS and mapping), ``data``
    (the bytes as uploaded) and, once an import runs, ``status.json`` (its progress,
    rewritten atomically, so that a poll answered by another worker process reads it
    too). Uploads older than :data:`UPLOAD_TTL_SECONDS` are removed.
Saved mappings
    The small table ``staff_import_mappings`` in the station database (created on first
    use): a name, the headers of the file it was made for, header -> field (or null),
    and the CRS. A mapping is offered for the next file whose headers include every
    header it names; saving one is audited (``import.mapping``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import Conflict, InvalidInput, NotFound
from ..store.accounts import User, insert_audit, utc_now
from ..store.files import (
    ColumnMapping,
    FileError,
    ImportPlan,
    RowIssue,
    Sheet,
    apply_mapping,
    assign_districts,
    parse_rows,
    plan_import,
    resolve_mapping,
    sheet_from_bytes,
)
from ..store.reading import norm_header
from .errors import Forbidden, StaffInvalid
from .roles import require

UPLOAD_TTL_SECONDS = 6 * 3600
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{20,64}")
_SAFE_NAME = re.compile(r"[^\w.\- ()（）\u4e00-\u9fff]+")

# ------------------------------------------------------------------------ uploads


@dataclass
class Upload:
    """One uploaded file and the choices made for it so far."""

    id: str
    user_id: int
    filename: str
    size: int
    created: float
    crs: str | None = None
    mapping: dict[str, str | None] | None = None
    skip_errors: bool = False
    mapping_name: str | None = None
    dir: Path = field(default=Path("."), repr=False)


class UploadStore:
    """Uploaded files between the steps of an import (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, *, ttl: float = UPLOAD_TTL_SECONDS):
        self.root = Path(root)
        self.ttl = ttl

    def _dir(self, uid: str) -> Path:
        if not _UPLOAD_ID.fullmatch(uid or ""):
            raise NotFound("没有这个上传文件（可能已过期），请重新上传 / no such upload (it may "
                           "have expired); upload the file again")
        return self.root / uid

    def put(self, user: User, filename: str, data: bytes) -> Upload:
        self.purge()
        uid = secrets.token_urlsafe(24)
        d = self._dir(uid)
        d.mkdir(parents=True, mode=0o700)
        (d / "data").write_bytes(data)
        up = Upload(uid, user.id, clean_filename(filename), len(data), time.time(), dir=d)
        self.save(up)
        return up

    def get(self, uid: str, user: User) -> Upload:
        """The upload ``uid`` of ``user`` (:class:`NotFound` for anyone else's, or when it
        is gone: ids are not guessable, and another account's file is never shown)."""
        d = self._dir(uid)
        try:
            meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
        if not meta or meta.get("user_id") != user.id or \
                time.time() - float(meta.get("created", 0)) > self.ttl:
            raise NotFound("没有这个上传文件（可能已过期），请重新上传 / no such upload (it may "
                           "have expired); upload the file again")
        meta.pop("dir", None)
        return Upload(**meta, dir=d)

    def data(self, up: Upload) -> bytes:
        return (up.dir / "data").read_bytes()

    def save(self, up: Upload) -> None:
        meta = asdict(up)
        meta.pop("dir")
        _write_json(up.dir / "meta.json", meta)

    def status(self, up: Upload) -> dict[str, Any] | None:
        try:
            return json.loads((up.dir / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def set_status(self, up: Upload, status: Mapping[str, Any]) -> None:
        _write_json(up.dir / "status.json", dict(status))

    def claim_run(self, up: Upload) -> bool:
        """True for the first caller only: one real import per upload (a double click or
        a second tab does not start another)."""
        try:
            fd = os.open(up.dir / "run.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def purge(self) -> None:
        """Remove uploads older than the time to live."""
        if not self.root.is_dir():
            return
        now = time.time()
        for d in self.root.iterdir():
            try:
                if d.is_dir() and now - d.stat().st_mtime > self.ttl:
                    shutil.rmtree(d, ignore_errors=True)
            except OSError:
                continue


def _write_json(path: Path, doc: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def clean_filename(name: str) -> str:
    """The base name of an uploaded file, without path parts or odd characters (it is
    shown on pages and written to the audit log and the station history)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _SAFE_NAME.sub("_", base)[:120].lstrip(".")
    return base or "upload.csv"


# ------------------------------------------------------------------------ saved mappings

_meta = sa.MetaData()
MAPPINGS = sa.Table(
    "staff_import_mappings", _meta,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("crs", sa.String(10), nullable=True),
    sa.Column("saved_by", sa.String(100), nullable=False),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class SavedMapping:
    name: str
    headers: tuple[str, ...]
    columns: dict[str, str | None]
    crs: str | None
    saved_by: str
    saved_at: datetime

    def fits(self, headers: Sequence[str]) -> bool:
        """Whether every header this mapping names is among ``headers``."""
        have = {norm_header(h) for h in headers}
        return bool(self.columns) and all(norm_header(h) in have for h in self.columns)

    def same_shape(self, headers: Sequence[str]) -> bool:
        return {norm_header(h) for h in headers} == {norm_header(h) for h in self.headers}


class MappingStore:
    """Named column mappings in the station database (table created on first use)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._ready = False

    def _schema(self) -> None:
        if not self._ready:
            _meta.create_all(self.engine, checkfirst=True)
            self._ready = True

    def all(self) -> list[SavedMapping]:
        self._schema()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(MAPPINGS).order_by(MAPPINGS.c.name)).all()
        out = []
        for r in rows:
            at = r.saved_at if r.saved_at.tzinfo else r.saved_at.replace(tzinfo=utc_now().tzinfo)
            out.append(SavedMapping(r.name, tuple(json.loads(r.headers)), json.loads(r.columns),
                                    r.crs, r.saved_by, at))
        return out

    def get(self, name: str) -> SavedMapping:
        for m in self.all():
            if m.name == name:
                return m
        raise NotFound(f"没有名为“{name}”的列映射 / there is no saved mapping {name!r}")

    def fitting(self, headers: Sequence[str]) -> list[SavedMapping]:
        """Saved mappings usable for a file with ``headers``: same shape first."""
        fit = [m for m in self.all() if m.fits(headers)]
        return sorted(fit, key=lambda m: (not m.same_shape(headers), m.name))

    def save(self, name: str, mapping: ColumnMapping, *, crs: str | None, user: User,
             client: str | None) -> SavedMapping:
        """Save (or replace) the mapping ``name``; audited in the same transaction."""
        n = (name or "").strip()
        if not n or len(n) > 100 or any(not c.isprintable() for c in n):
            raise StaffInvalid("映射名称需为 1 到 100 个字符，不能含控制字符",
                               "a mapping name needs 1 to 100 characters and no control "
                               "characters", field="mapping_name")
        self._schema()
        now = utc_now()
        cols = dict(mapping.columns)
        with self.engine.begin() as conn:
            conn.execute(MAPPINGS.delete().where(MAPPINGS.c.name == n))
            conn.execute(MAPPINGS.insert().values(
                name=n, headers=json.dumps(list(mapping.headers), ensure_ascii=False),
                columns=json.dumps(cols, ensure_ascii=False), crs=crs, saved_by=user.actor,
                saved_at=now))
            insert_audit(conn, at=now, actor=user.actor, action="import.mapping",
                         target=f"mapping:{n}", result="ok", client=client,
                         detail={"columns": cols, "crs": crs})
        return SavedMapping(n, tuple(mapping.headers), cols, crs, user.actor, now)


# ------------------------------------------------------------------------ planning


@dataclass
class UploadPlan:
    """The dry run of an upload: the plan (scope errors included), the mapping it used,
    and the spreadsheet rows left out because they had errors (when asked to)."""

    plan: ImportPlan
    mapping: ColumnMapping
    skipped: tuple[int, ...] = ()

    def counts(self) -> dict[str, int]:
        return {**self.plan.counts(), "skipped": len(self.skipped)}


def read_upload(data: bytes, filename: str, *, max_rows: int) -> Sheet:
    """The upload's headers and cells; :class:`FileError` (a 400) for a bad file or one
    with more than ``max_rows`` data rows."""
    sheet = sheet_from_bytes(data, filename)
    if len(sheet.rows) > max_rows:
        raise FileError(f"the file has {len(sheet.rows):,} rows; at most {max_rows:,} per "
                        "import: split it into several files",
                        f"文件有 {len(sheet.rows):,} 行，每次导入最多 {max_rows:,} 行；"
                        "请拆分为几个文件",
                        field="file")
    return sheet


def _scope_issues(plan: ImportPlan, user: User, columns: Mapping[str, str]) -> ImportPlan:
    """Rows that would create or change a station outside ``user``'s scope become
    errors naming the scope (where the station is, and where it was)."""
    # Name the column the district came from; without a district column it was found
    # from the coordinates, so name both coordinate columns and say so in the value.
    given = columns.get("district_adcode") or columns.get("district_name")
    col = given or f"{columns.get('lon') or 'lon'}/{columns.get('lat') or 'lat'}"
    keep, errors = [], list(plan.errors)
    for r in plan.rows:
        bad = None
        for code in {r.station.district_adcode or "",
                     (r.existing.district_adcode or "") if r.existing else None} - {None}:
            try:
                require(user, "station.import", code)
            except Forbidden as e:
                bad = e
                break
        if bad is None:
            keep.append(r)
            continue
        code = r.station.district_adcode or None
        value = code if given or code is None else f"{code}（由坐标判定 / from the coordinates）"
        errors.append(RowIssue(r.row, col, "district_adcode", value, "outside_scope", bad.zh,
                               bad.en))
    errors.sort(key=lambda x: (x.row or 0))
    return ImportPlan(keep, errors, plan.warnings, plan.total_rows, plan.crs, plan.mapping,
                      plan.encoding)


def plan_upload(sheet: Sheet, *, mapping: Mapping[str, str | None] | None, crs: str,
                existing: Sequence[Any], districts: Any, user: User,
                skip_errors: bool = False, ignore_unknown: bool = False,
                default_source: str = "import",
                progress: Callable[[int], None] | None = None) -> UploadPlan:
    """Map, validate, assign districts, plan against ``existing`` and check the scope.

    ``ignore_unknown`` drops columns that are neither mapped nor recognised. With
    ``skip_errors`` the rows with errors are left out and the rest planned again
    (their row numbers are in ``skipped``); errors about the whole file remain.
    """
    m = resolve_mapping(sheet.headers, mapping, ignore_unknown=ignore_unknown)
    skipped: set[int] = set()
    for _ in range(4):
        rows = [r for r in sheet.rows if r[0] not in skipped] if skipped else sheet.rows
        if not rows:
            raise FileError("every row has errors; nothing is left to import",
                            "每一行都有错误，没有可导入的行", field="file")
        table = apply_mapping(Sheet(sheet.headers, rows, sheet.encoding, sheet.kind), m)
        parsed = parse_rows(table, crs=crs, default_source=default_source, progress=progress)
        parsed = assign_districts(parsed, districts)
        plan = plan_import(parsed, existing)
        plan.mapping, plan.encoding = m, sheet.encoding
        plan = _scope_issues(plan, user, table.columns)
        plan.total_rows = len(sheet.rows)
        bad = {e.row for e in plan.errors if e.row is not None}
        if not skip_errors or not bad:
            break
        skipped |= bad
    return UploadPlan(plan, m, tuple(sorted(skipped)))


# ------------------------------------------------------------------------ the real import


@dataclass(frozen=True)
class ImportResult:
    counts: dict[str, int]
    stored: int


class NotImportable(InvalidInput):
    """The plan still has errors at the time of the real import (nothing is written)."""

    def __init__(self, plan: UploadPlan):
        self.upload_plan = plan
        n = len(plan.plan.errors)
        self.zh = f"有 {n} 行存在错误，未导入任何数据；请先修正或跳过这些行"
        self.en = f"{n} row(s) have errors; nothing was imported. Fix or skip those rows first"
        super().__init__(self.en, field="file")

    def message_in(self, lang: str) -> str:
        return self.en if lang.startswith("en") else self.zh


def apply_upload(registry: Any, accounts_engine: Engine, up: UploadPlan, *, user: User,
                 client: str | None, filename: str, upload_id: str,
                 progress: Callable[[int], None] | None = None) -> ImportResult:
    """Write the plan in one transaction, with its ``station.import`` audit row in the
    same transaction (all or nothing). Raises :class:`NotImportable` when the plan has
    errors and :class:`~locator.errors.Conflict` when another writer stored some of the
    same stations meanwhile."""
    import sqlalchemy.exc

    if up.plan.errors:
        raise NotImportable(up)
    counts = up.counts()
    detail = {"file": filename, "crs": up.plan.crs, "upload": upload_id, **counts}
    if up.skipped:
        detail["skipped_rows"] = list(up.skipped[:1000])
    target = f"file:{filename}"

    def hook(conn: Any, stored: list[Any]) -> None:
        insert_audit(conn, at=utc_now(), actor=user.actor, action="station.import",
                     target=target, result="ok", client=client, detail=detail)

    todo = up.plan.to_store()
    if not todo:
        with accounts_engine.begin() as conn:
            hook(conn, [])
        return ImportResult(counts, 0)
    try:
        stored = registry.add_many(todo, actor=user.actor, upsert=True,
                                   batch=f"import:{filename}", hook=hook, progress=progress)
    except sqlalchemy.exc.IntegrityError:
        raise Conflict("另一个导入或编辑同时写入了部分相同的站点，本次未导入任何数据；"
                       "请重新导入（会自动匹配）"
                       " / another import or edit stored some of the same stations at the "
                       "same time; nothing was imported. Run the import again (it will match "
                       "them)") from None
    return ImportResult(counts, len(stored))


def audit_failure(accounts_engine: Engine, *, user: User, client: str | None, filename: str,
                  reason: str) -> None:
    with accounts_engine.begin() as conn:
        insert_audit(conn, at=utc_now(), actor=user.actor, action="station.import",
                     target=f"file:{filename}", result="failed", client=client,
                     detail={"reason": reason[:500]})


def start_job(store: UploadStore, up: Upload, work: Callable[[Callable[..., None]], dict],
              *, total: int) -> None:
    """Run ``work(report)`` in a daemon thread; ``report(stage, done, total)`` and the
    outcome go to the upload's ``status.json`` (throttled to a few writes a second)."""
    state: dict[str, Any] = {"state": "running", "stage": "checking", "done": 0,
                             "total": total, "started": time.time()}
    store.set_status(up, state)
    last = [0.0]

    def report(stage: str, done: int, of: int | None = None) -> None:
        state.update(stage=stage, done=int(done))
        if of is not None:
            state["total"] = int(of)
        now = time.monotonic()
        if now - last[0] >= 0.2:
            last[0] = now
            store.set_status(up, state)

    def run() -> None:
        try:
            result = work(report)
            state.update(state="done", stage="done", finished=time.time(), **result)
            state["done"] = state.get("total", 0)
        except Exception as e:  # noqa: BLE001 - reported to the page, nothing was written
            zh = e.message_in("zh") if hasattr(e, "message_in") else str(e)
            en = e.message_in("en") if hasattr(e, "message_in") else str(e)
            if isinstance(e, FileError):
                zh, en = e.message_zh, e.message_en
            state.update(state="failed", finished=time.time(), message_zh=zh, message_en=en)
            if not isinstance(e, (InvalidInput, Conflict, Forbidden)):
                import logging

                logging.getLogger(__name__).exception("import %s failed", up.id)
        store.set_status(up, state)

    threading.Thread(target=run, name=f"locator-import-{up.id[:8]}", daemon=True).start()


def summary(counts: Mapping[str, int], lang: str) -> str:
    """``"3 新建，1 更新，2 未变"`` / ``"3 new, 1 updated, 2 unchanged"``."""
    if lang.startswith("en"):
        return (f"{counts.get('new', 0)} new, {counts.get('updated', 0)} updated, "
                f"{counts.get('unchanged', 0)} unchanged")
    return (f"{counts.get('new', 0)} 新建，{counts.get('updated', 0)} 更新，"
            f"{counts.get('unchanged', 0)} 未变")

"""Photos of station doors taken on a verification round: checked, cleaned, stored.

An upload is trusted for nothing it claims (file name, declared type): it is decoded
with Pillow, and only JPEG, PNG and WebP images are accepted, within
``LOCATOR_MAX_PHOTO_BYTES`` and :data:`MAX_PIXELS` (a small file can decode to a huge
image: a "decompression bomb"). What is stored is a *new* JPEG drawn from the decoded
pixels, turned upright by its EXIF orientation and at most :data:`MAX_SIDE` pixels on
its long side, so no metadata of the original survives: no EXIF block, no GPS position,
no camera serial, no embedded thumbnail, no ICC profile, no comments.

Photos are served back only as image bytes with the stored content type (see the staff
photo route); they are never rendered as anything else.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import NotFound
from ..staff.errors import BilingualInvalid
from ..store.upkeep import PHOTOS, ensure_schema

#: What an upload may be, by Pillow format name (the decoded content, not the name).
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP")
#: The largest decoded image accepted, in pixels (a 48-megapixel phone photo fits).
MAX_PIXELS = 50_000_000
#: The stored photo's long side, in pixels (enough to read a sign on a door).
MAX_SIDE = 1600
#: The stored form.
STORED_TYPE = "image/jpeg"
_QUALITY = 82


class PhotoInvalid(BilingualInvalid):
    """An upload refused as a photo, naming the form field, in Chinese and English."""

    def __init__(self, zh: str, en: str, *, field: str = "photo"):
        super().__init__(zh, en, field=field)


@dataclass(frozen=True)
class CleanPhoto:
    """A re-encoded photo, ready to store."""

    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class StoredPhoto:
    id: int
    content_type: str
    data: bytes
    width: int
    height: int
    created_at: datetime


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def clean_photo(data: bytes, *, max_bytes: int, max_pixels: int = MAX_PIXELS,
                max_side: int = MAX_SIDE, field: str = "photo") -> CleanPhoto:
    """Decode ``data`` and re-encode it as a metadata-free JPEG.

    Raises
    ------
    PhotoInvalid
        (field ``field``) for an empty or oversize upload, anything that does not decode
        as a JPEG, PNG or WebP image, or an image of more than ``max_pixels`` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise PhotoInvalid("照片文件是空的", "the photo file is empty", field=field)
    if len(data) > max_bytes:
        raise PhotoInvalid(f"照片太大（{_mb(len(data))}），最大 {_mb(max_bytes)}",
                           f"the photo is too large ({_mb(len(data))}); at most "
                           f"{_mb(max_bytes)}", field=field)
    not_image = PhotoInvalid("文件不是可识别的照片：只接受 JPEG、PNG 或 WebP 图片",
                             "the file is not a photo this page can read: only JPEG, PNG "
                             "or WebP images are accepted", field=field)
    too_big = PhotoInvalid(f"照片像素过多（最多 {max_pixels // 1_000_000} 百万像素）",
                           f"the photo has too many pixels (at most "
                           f"{max_pixels // 1_000_000} megapixels)", field=field)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns (or raises) above its global limit; ours is
            # lower, but a warning must refuse the file, not reach the caller.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
            im: Image.Image = opened
            if opened.width * opened.height > max_pixels or min(opened.size) < 1:
                raise too_big
            if opened.format == "JPEG":
                opened.draft("RGB", (max_side, max_side))  # decode scaled down: less memory
            opened.load()
            im = ImageOps.exif_transpose(im)
    except PhotoInvalid:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_big from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            struct.error):
        raise not_image from None
    im = _flatten(im)
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    # A fresh image holds pixels only: nothing of the original's ``info`` (EXIF, ICC,
    # XMP, comments) can be written out with it.
    clean = Image.new("RGB", im.size)
    clean.paste(im)
    buf = io.BytesIO()
    clean.save(buf, format="JPEG", quality=_QUALITY, optimize=True)
    return CleanPhoto(buf.getvalue(), STORED_TYPE, clean.width, clean.height)


def _flatten(im):
    """RGB pixels; transparency is laid on white (a JPEG has no alpha)."""
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        base = Image.new("RGB", rgba.size, (255, 255, 255))
        base.paste(rgba, mask=rgba.getchannel("A"))
        return base
    return im if im.mode == "RGB" else im.convert("RGB")


def insert_photo(conn: Connection, photo: CleanPhoto, *, at: datetime) -> int:
    """Store ``photo`` in ``conn``'s transaction; returns its id. The tables must exist
    (:func:`locator.store.upkeep.ensure_schema`, called before the transaction began:
    on SQLite a second connection could not create them while this one writes)."""
    row = conn.execute(PHOTOS.insert().values(
        content_type=photo.content_type, data=photo.data, sha256=photo.sha256,
        width=photo.width, height=photo.height, created_at=at).returning(PHOTOS.c.id))
    return int(row.scalar_one())


def load_photo(engine: Engine, photo_id: int) -> StoredPhoto:
    """A stored photo; :class:`~locator.errors.NotFound` when there is none."""
    ensure_schema(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(PHOTOS).where(PHOTOS.c.id == photo_id)).mappings().first()
    if row is None:
        raise NotFound(f"no photo {photo_id}")
    return StoredPhoto(id=row["id"], content_type=row["content_type"], data=bytes(row["data"]),
                       width=row["width"], height=row["height"], created_at=row["created_at"])

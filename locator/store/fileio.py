"""File access for imports and exports, with errors a user can act on.

:class:`FileError` is a file that cannot be used (encoding, shape, columns), with an
English and a Chinese message; :class:`FileAccessError` a path that cannot be read
or written (``cannot write PATH: No such file or directory``). Writes go through a
temporary sibling and a rename, so a full disk never leaves half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, LocatorError

MAX_IMPORT_BYTES = 200 * 1024 * 1024
MAX_IMPORT_ROWS = 500_000


class FileError(InvalidInput):
    """A file that cannot be read or used (encoding, shape, columns), in both languages.

    ``str()`` and ``message`` are English; ``message_zh`` is the Chinese text.
    """

    def __init__(self, message_en: str, message_zh: str, *, field: str | None = "file",
                 row: int | None = None):
        super().__init__(message_en, field=field, row=row)
        self.message_en = message_en
        self.message_zh = message_zh

    def text(self, lang: str = "zh") -> str:
        return self.message_en if lang.startswith("en") else self.message_zh


class FileAccessError(LocatorError):
    """A path that cannot be read or written (missing, a directory, no permission, disk
    full). The message is one line: ``cannot write PATH: reason``."""

    def __init__(self, verb: str, path: str | os.PathLike, reason: str):
        super().__init__(f"cannot {verb} {path}: {reason}")
        self.path = str(path)
        self.reason = reason
        self.message_zh = f"无法{'写入' if verb == 'write' else '读取'} {path}：{reason}"

    def text(self, lang: str = "zh") -> str:
        return str(self) if lang.startswith("en") else self.message_zh


def os_reason(e: OSError) -> str:
    """The plain reason of an OS error ("No such file or directory")."""
    return e.strerror or type(e).__name__


def read_bytes(path: str | os.PathLike, *, limit: int = MAX_IMPORT_BYTES) -> bytes:
    """The bytes of a file, or :class:`FileAccessError` / :class:`FileError` (too large)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        if size > limit:
            raise FileError(f"the file is larger than {limit // 2**20} MB",
                            f"文件超过 {limit // 2**20} MB", field="file")
        return p.read_bytes()
    except OSError as e:
        raise FileAccessError("read", p, os_reason(e)) from None


def write_atomic(path: str | os.PathLike, data: bytes | None = None, *,
                 writer: Any = None) -> None:
    """Write a file through a temporary sibling and rename it into place, so a full disk
    or a crash never leaves half a file. Either ``data`` or ``writer(tmp_path)``.

    Raises :class:`FileAccessError` with the path the user gave.
    """
    p = Path(path)
    tmp = p.with_name(f".{p.stem}.{os.getpid()}.tmp{p.suffix}")  # drivers check the suffix
    try:
        if not p.parent.is_dir():
            raise FileNotFoundError(2, "No such file or directory")
        if p.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        if writer is not None:
            writer(tmp)
        else:
            with open(tmp, "wb") as fh:
                fh.write(data or b"")
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as e:
        _unlink_quietly(tmp)
        raise FileAccessError("write", p, os_reason(e)) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(p: Path) -> None:
    try:
        p.unlink()
    except OSError:
        pass

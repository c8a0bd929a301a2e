"""One small exception tree for the whole project.

Every message says what was wrong *and* what would have been valid, so that
the CLI can print it as is and the web layer can map it to a 4xx response.
"""

from __future__ import annotations


class LocatorError(Exception):
    """Base class of every error the project raises on purpose."""


class InvalidInput(LocatorError, ValueError):
    """Input that fails validation (a coordinate, a field, a file, a query).

    ``field`` names the offending field or parameter when there is one, and
    ``row`` the 1-based data row of an imported file.
    """

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.row = row

    def __str__(self) -> str:
        prefix = f"row {self.row}: " if self.row is not None else ""
        return prefix + self.message


class ImportFailed(InvalidInput):
    """A bulk import with one or more bad rows; nothing was stored."""

    def __init__(self, errors: list[InvalidInput], *, total_rows: int):
        self.errors = errors
        self.total_rows = total_rows
        shown = "\n".join(f"  - {e}" for e in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(
            f"{len(errors)} of {total_rows} rows are invalid; nothing was imported:\n{shown}{more}"
        )


class NotFound(LocatorError, KeyError):
    """A station (or other record) that does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "not found"


class Conflict(LocatorError):
    """A write that clashes with the stored state (duplicate id, stale version)."""


class SchemaError(LocatorError):
    """The database schema is missing or of a version this code cannot use."""

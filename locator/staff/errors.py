"""Errors of the staff accounts core, each with a Chinese and an English message.

``str(error)`` is ``"<zh> / <en>"`` (what the CLI prints); the web layer picks one with
:meth:`Bilingual.message_in`. HTTP statuses the web layer should answer:

========================  ======
:class:`Unauthorized`      401 (no, wrong or expired credentials)
:class:`RateLimited`       429 with ``Retry-After: retry_after`` (:class:`TooManyAttempts`)
:class:`Forbidden`         403 (authenticated, but outside the role or the scope)
:class:`StaffInvalid`      400 (an :class:`~locator.errors.InvalidInput`)
========================  ======
"""

from __future__ import annotations

from ..errors import InvalidInput, LocatorError


class Bilingual:
    """A message in Simplified Chinese (first) and English."""

    zh: str
    en: str

    def message_in(self, lang: str) -> str:
        """The message in ``lang`` (``"en"``, anything else gives Chinese)."""
        return self.en if lang.lower().startswith("en") else self.zh


def _both(zh: str, en: str) -> str:
    return f"{zh} / {en}"


class Unauthorized(Bilingual, LocatorError):
    """No valid credentials: a wrong password, an unknown or revoked token, an expired
    session."""

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        super().__init__(_both(zh, en))


class RateLimited(Bilingual, LocatorError):
    """A client past a limit (logins, riders' reports, check-ins): answered 429 with
    ``Retry-After: retry_after`` (seconds, at least 1). Subclasses name the page's
    ``title`` and the problem ``kind``."""

    title = "请求过于频繁 / Too many requests"
    kind = "rate-limited"

    def __init__(self, zh: str, en: str, *, retry_after: int):
        self.zh, self.en = zh, en
        self.retry_after = max(1, int(retry_after))
        super().__init__(_both(zh, en))


class TooManyAttempts(RateLimited):
    """Logins refused for a while after repeated failures."""

    title = "尝试次数过多 / Too many attempts"
    kind = "login-throttled"

    def __init__(self, zh: str, en: str, *, retry_after: int, scope: str):
        #: ``"account"`` or ``"client"``: which counter is over its limit.
        self.scope = scope
        super().__init__(zh, en, retry_after=retry_after)


class Forbidden(Bilingual, LocatorError):
    """An authenticated account asked for something its role or its scope does not
    allow. ``right`` is the right it lacked; ``scope`` its adcode scope."""

    def __init__(self, zh: str, en: str, *, right: str = "", scope: str | None = None):
        self.zh, self.en = zh, en
        self.right = right
        self.scope = scope
        super().__init__(_both(zh, en))


class BilingualInvalid(Bilingual, InvalidInput):
    """Bad input (400) naming the field, in Chinese and English."""

    def __init__(self, zh: str, en: str, *, field: str | None = None):
        self.zh, self.en = zh, en
        super().__init__(_both(zh, en), field=field)


class StaffInvalid(BilingualInvalid):
    """Bad input to the accounts core (a weak password, an unknown role, a bad scope)."""

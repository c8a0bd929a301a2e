"""JSON for embedding in HTML pages and reports (used by the web maps and by the
self-contained coverage report, so it lives in the core, which imports no Flask)."""

from __future__ import annotations

import json
from typing import Any


def safe_json(value: Any) -> str:
    """JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` are written as ``\\u003c``, ``\\u003e`` and ``\\u0026``
    (so ``</script>`` or ``<!--`` in a station name cannot end the element), and
    the line separators U+2028/U+2029 are escaped too. The result is still valid
    JSON and decodes to the same value.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))

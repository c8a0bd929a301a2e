"""A Flask JSON provider backed by orjson (several times faster than the standard
library on the API's result lists), falling back to Flask's default when orjson is absent."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None


class OrjsonProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if orjson is None or kwargs:
            return super().dumps(obj, **kwargs)
        return orjson.dumps(obj, default=self.default,
                            option=orjson.OPT_NON_STR_KEYS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if orjson is None or kwargs:
            return super().loads(s, **kwargs)
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any):
        obj = self._prepare_response_obj(args, kwargs)
        if orjson is None:
            return super().response(*args, **kwargs)
        return self._app.response_class(
            orjson.dumps(obj, default=self.default, option=orjson.OPT_NON_STR_KEYS),
            mimetype=self.mimetype)

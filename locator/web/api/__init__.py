"""The REST API for programs and the rider page: routes (:mod:`.routes`), the WSGI fast
path for plain nearest queries (:mod:`.fastpath`) and the OpenAPI spec (:mod:`.openapi`)."""

"""The public API v1 (docs/api.md): one django-ninja API, its operations in the routers of
``endpoints/``, each module one family of resources. A new family is a router added in
``ROUTERS``; every operation then gets the token check, the problem answers and its place
in the OpenAPI document and the access matrix (tests/project/test_access_matrix.py)."""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI, Router
from ninja.openapi.docs import Swagger
from ninja.openapi.schema import OpenAPISchema

from essmon.api import problems
from essmon.api.auth import TokenAuth
from essmon.api.body import StrictJsonParser
from essmon.api.endpoints import alerts, changes, gateways, history

NAMESPACE = "public_api"
ROUTERS: tuple[tuple[str, Router], ...] = (
    ("", gateways.router),
    ("", history.router),
    ("", alerts.router),
    ("", changes.router),
)
DESCRIPTION = """\
The people's API of essmon: owners and dealers read their systems' state with a personal
access token (`Authorization: Bearer essmon_pat_…`), made on the 管理・登録サイト's
アクセストークン page. Every error is an RFC 9457 problem (`application/problem+json`).
The user's guide is docs/api.md."""


# the headers the document promises with these answers
HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "Bearer: send a valid token",
            "schema": {"type": "string"},
            "required": True,
        }
    },
    "429": {
        "Retry-After": {
            "description": "seconds until the limit's window ends",
            "schema": {"type": "integer", "minimum": 1},
            "required": True,
        }
    },
    "304": {"ETag": {"schema": {"type": "string"}, "required": True}},
}


class PublicApi(NinjaAPI):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._documents: dict[tuple[Any, ...], OpenAPISchema] = {}

    def get_openapi_operation_id(self, operation: Any) -> str:
        """The operation's function name (``list_gateways``), the same as its URL name: a
        client generated from the document gets short method names, and the module path
        ninja would add says nothing to a caller."""
        return str(operation.view_func.__name__)

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        """ninja's document, with every error response declared as what it is: a problem
        in ``application/problem+json``, one shared schema.

        Built once per process: it depends on the code alone, and building it takes tens
        of milliseconds, on a path anyone may ask for without a token or a limit."""
        key = (path_prefix, tuple(sorted((path_params or {}).items())))
        if key not in self._documents:
            self._documents[key] = self._build_document(path_prefix, path_params)
        return self._documents[key]

    def _build_document(
        self, path_prefix: str | None, path_params: dict[str, Any] | None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        ref = "#/components/schemas/Problem"
        problem = problems.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in problem.pop("$defs", {}).items():
            components[name] = definition
        components["Problem"] = problem
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    if int(status) >= 400:
                        response["content"] = {problems.CONTENT_TYPE: {"schema": {"$ref": ref}}}
                    if str(status) in HEADERS:
                        response["headers"] = HEADERS[str(status)]
        return schema


def build() -> PublicApi:
    api = PublicApi(
        title="essmon public API",
        version="1",
        description=DESCRIPTION,
        urls_namespace=NAMESPACE,
        auth=TokenAuth(),
        parser=StrictJsonParser(),
        docs=Swagger(settings={"persistAuthorization": False}),
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    problems.install(api)
    for prefix, router in ROUTERS:
        api.add_router(prefix, router)
    return api


api = build()

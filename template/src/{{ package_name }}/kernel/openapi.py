"""The OpenAPI document tells the truth about errors: every problem an operation can answer.

Features declare the problems of their own logic with `problems()` (404, 409, 503...). What
the kernel answers for any operation is added here, once, to the generated document: 422 (a
`ValidationProblem`, in place of FastAPI's HTTPValidationError) where there is input, 400 and
413 where there is a body, 500 everywhere. Every one is `application/problem+json`. The
components then add what they answer themselves (a rate limit's 429): their `document` hooks.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI

from .errors import PROBLEM_JSON, Problem, ValidationProblem

_REF = "#/components/schemas/{model}"
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_KERNEL_PROBLEMS = {
    "400": "The body is not valid JSON, or the request is malformed.",
    "413": "The body is larger than the service accepts (max_body_bytes).",
    "500": "An unexpected error; the body says nothing about it (the log does).",
}
# A component's addition to a document (web/component.py, `Component.document`): it gets the
# document and the path prefix its operations are served under (a mounted version's, or "").
Documenter = Callable[[dict[str, Any], str], None]
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string"},
    }
}


def problem_response(description: str, *, model: str = "Problem") -> dict[str, Any]:
    """An OpenAPI response whose body is a problem (RFC 9457)."""
    schema = {"$ref": _REF.format(model=model)}
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}


def problems(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each status with its problem body.

    A 503 also documents its Retry-After header (services answer busy with one).
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for status, description in descriptions.items():
        response = problem_response(description)
        if status == 503:  # noqa: PLR2004 - the status is the point
            response["headers"] = RETRY_AFTER
        responses[status] = response
    return responses


def _problem_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (Problem, ValidationProblem):
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _document_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    has_input = bool(operation.get("parameters")) or "requestBody" in operation
    if has_input or "422" in responses:
        responses["422"] = problem_response(
            "A parameter or the body failed validation; `errors` lists each field.",
            model="ValidationProblem",
        )
    kernel = ("400", "413", "500") if "requestBody" in operation else ("500",)
    for status in kernel:
        responses.setdefault(status, problem_response(_KERNEL_PROBLEMS[status]))


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every operation of a document: (path, method in upper case, operation)."""
    for path, path_item in document.get("paths", {}).items():
        for method, operation in path_item.items():
            if method in _METHODS:
                yield path, method.upper(), operation


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Add the kernel's problems to every operation of a generated document, in place."""
    for _, _, operation in operations(document):
        _document_operation(operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas.update(_problem_schemas())
    return document


def install_openapi(
    app: FastAPI, documenters: Sequence[Documenter] = (), *, prefix: str = ""
) -> None:
    """Generate `app`'s document as FastAPI does, then document the kernel's problems and the
    components' answers (`documenters`, kept in `app.state` for mounted sub-applications)."""
    generate = app.openapi
    app.state.openapi_documenters = tuple(documenters)

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            document = document_problems(generate())
            for documenter in documenters:
                documenter(document, prefix)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

"""The OpenAPI document, with the `/predict` schemas of the FeatureService being served.

The request of `/predict` depends on the champion's FeatureService, which a reload can change,
so those routes read their bodies themselves; their schemas are put into the document here,
from what is served when the document is asked for.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import (
    get_openapi,
    validation_error_definition,
    validation_error_response_definition,
)
from pydantic import BaseModel

REF = "#/components/schemas/{model}"


def with_predict_schemas(app: FastAPI) -> dict[str, Any]:
    served = getattr(app.state, "served", None)
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    if served is not None:
        schemas = served.schemas
        _body(schema, "/predict", schemas.request, schemas.prediction)
        _body(schema, "/predict/batch", schemas.batch, schemas.predictions)
    return schema


def _body(schema: dict, path: str, request: type[BaseModel], answer: type[BaseModel]) -> None:
    operation = schema["paths"][path]["post"]
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": _ref(schema, request)}},
    }
    ok = operation.setdefault("responses", {}).setdefault("200", {"description": "OK"})
    ok["content"] = {"application/json": {"schema": _ref(schema, answer)}}
    errors = operation["responses"].setdefault("422", {"description": "Validation Error"})
    errors.setdefault("content", {"application/json": {"schema": _ref(schema, None)}})


def _ref(schema: dict, model: type[BaseModel] | None) -> dict[str, str]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if model is None:  # FastAPI's own 422 body
        components.setdefault("ValidationError", validation_error_definition)
        components.setdefault("HTTPValidationError", validation_error_response_definition)
        return {"$ref": REF.format(model="HTTPValidationError")}
    found = model.model_json_schema(ref_template=REF)
    components.update(found.pop("$defs", {}))
    components[model.__name__] = found
    return {"$ref": REF.format(model=model.__name__)}

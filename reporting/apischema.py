"""The OpenAPI 3.1 documents assembled from pydantic models: each request body, query and response is
declared once, as a model, and that one declaration both validates the request (where the API reads it)
and gives the document its schema (``model_json_schema``). The API packages declare their models and
paths; this module knows the shape of an OpenAPI document and of a problem (``reporting.problems``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, Field
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema

REF = "#/components/schemas/{model}"
PROBLEM = {"$ref": "#/components/responses/Problem"}
# The default of a field that may be left out but, given, is not null: None stands for 'not given'.
UNSET: Any = None


class _Schema(GenerateJsonSchema):
    """JSON Schema as the documents show it: no generated titles on fields, and no ``default: null`` on a
    field that may be left out (left out means 'not given', which is not the same as null)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None:
            del json_schema["default"]
        return json_schema


class Problem(BaseModel):
    """RFC 9457 problem details, as ``reporting.problems.problem`` writes them."""

    type: str
    title: str
    status: Annotated[int, Field(ge=400, le=599)]
    detail: str = UNSET
    errors: Annotated[dict[str, str], Field(
        description="question key (or field) -> message, in the request's language")] = UNSET
    parameter: Annotated[str, Field(description="the query parameter refused")] = UNSET
    reference: Annotated[str, Field(description="quote it when reporting an unexpected error")] = UNSET


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def json_response(description: str, model: type[BaseModel] | None = None, *,
                  media_type: str = "application/json") -> dict[str, Any]:
    """A response in ``media_type`` with the schema of ``model`` (without one: any JSON object)."""
    schema = ref(model) if model is not None else {"type": "object"}
    return {"description": description, "content": {media_type: {"schema": schema}}}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(model)}}}


def problems(*statuses: int) -> dict[str, Any]:
    """The error responses of an operation: each a problem document."""
    return {str(status): PROBLEM for status in statuses}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The fields of a query model as OpenAPI query parameters (named by alias, described by the field)."""
    properties = model.model_json_schema(schema_generator=_Schema)["properties"]
    return [{"name": name, "in": "query", "required": False, "description": schema.pop("description", ""),
             "schema": schema} for name, schema in properties.items()]


def schemas(requests: Iterable[type[BaseModel]], responses: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """``components.schemas``: the request models as they are validated, the responses as they are written,
    each with the models it nests, named by class."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in requests]
    models += [(m, "serialization") for m in (Problem, *responses)]
    _, top = models_json_schema(models, ref_template=REF, schema_generator=_Schema)
    return top["$defs"]


def document(*, title: str, description: str, server: str, bearer: str, paths: dict[str, Any],
             requests: Iterable[type[BaseModel]] = (), responses: Iterable[type[BaseModel]] = ()) -> dict[str, Any]:
    """An OpenAPI 3.1 document: bearer authentication (described by ``bearer``), problem documents for errors."""
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": bearer}},
            "responses": {"Problem": json_response("A problem document (RFC 9457)", Problem,
                                                   media_type="application/problem+json")},
            "schemas": schemas(requests, responses),
        },
    }

"""The JSON Schema of the mapping language, generated from the pydantic models (docs/mapping.schema.json)."""

from __future__ import annotations

import json

from tidemark.mapping.models import Mapping


def mapping_json_schema() -> str:
    schema = Mapping.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tidemark mapping"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"

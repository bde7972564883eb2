"""Write the JSON Schema files in schemas/json from the pydantic models (`python -m schemas.generate`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.events import EVENT_MODELS

JSON_DIR = Path(__file__).parent / "json"


def _close_maps(node: Any) -> None:
    """Maps with key patterns accept no other keys, as the models do (pydantic leaves them open)."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for child in node.values():
            _close_maps(child)
    elif isinstance(node, list):
        for child in node:
            _close_maps(child)


def render() -> dict[str, str]:
    """File name → JSON text for every event kind."""
    out = {}
    for kind, model in EVENT_MODELS.items():
        schema = model.model_json_schema(mode="validation")
        _close_maps(schema)
        schema["$id"] = f"https://realise.nhs.invalid/schemas/{kind.value}.v1.json"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[f"{kind.value}.v1.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main() -> None:
    JSON_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        (JSON_DIR / name).write_text(text)
        print(JSON_DIR / name)


if __name__ == "__main__":
    main()

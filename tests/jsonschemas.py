"""Check certv6's --json output against the schemas it ships (certv6/cli/schemas/).

``validated(kind, stdout)`` parses one document and validates it against the
shipped schema of ``kind``, made strict: every object that lists its
properties may have no others, so a key the code prints but the schema does
not document fails the test (the shipped schemas let consumers ignore new keys).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema

from certv6.cli.jsonout import schema


def strict(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: strict(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
    elif isinstance(node, list):
        node = [strict(item) for item in node]
    return node


def validated(kind: str, text: str) -> dict[str, Any]:
    """The one JSON document in ``text``, valid against ``kind``'s schema."""
    document = json.loads(text)
    jsonschema.validate(document, strict(copy.deepcopy(schema(kind))))
    assert isinstance(document, dict)
    return document


def error_of(text: str) -> dict[str, Any]:
    """The ``error`` object of an error document."""
    error = validated("error", text)["error"]
    assert isinstance(error, dict)
    return error

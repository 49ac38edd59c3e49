"""Values that point into the command itself: `^<JSONPath>^` (Container Service 3.7.3).

An input value (or default) may hold `^$.inputs[?(@.name == 'x')].default-value^`: the search
runs over the command's JSON (`^wrapper:…^` over the wrapper's) and its single result replaces
the marked text. Only the first marked search in a value is resolved, as in XNAT; a search with
several results is an error, one with none leaves the text as it was.
"""

from __future__ import annotations

import json
import re
from typing import Any

from xnat_plugin.runner.errors import CommandResolutionError
from xnat_plugin.runner.matchers import read_json_path

JSONPATH_SUBSTRING = re.compile(r"\^(wrapper:)?(.+)\^")


def resolve_jsonpath_substring(
    text: str | None, command_json: Any, wrapper_json: Any
) -> str | None:
    """`text` with its `^…^` search replaced by the search's one result."""
    if not text or not text.strip():
        return text
    found = JSONPATH_SUBSTRING.search(text)
    if found is None or not found.group(2).strip():
        return text
    document = wrapper_json if found.group(1) else command_json
    results = read_json_path(document, found.group(2))
    if not results or results[0] is None:
        return text
    if len(results) > 1:
        raise CommandResolutionError(
            f'JSONPath search "{found.group(2)}" returned multiple results: '
            f"{json.dumps(results)}. Cannot determine value to replace."
        )
    result = results[0] if isinstance(results[0], str) else json.dumps(results[0])
    return text.replace(found.group(0), result)

"""JSON that cannot exhaust the interpreter's stack.

Python's json module recurses once per nesting level, so a body of 100,000 "[" raises
RecursionError (a 500 through DRF, a traceback in the import command). Every JSON the app reads
from outside (API bodies, import files) goes through `json_loads_bounded`, which measures the
nesting first, in one pass that never recurses, and refuses anything deeper than JSON_MAX_DEPTH.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

# The deepest document the app takes is an import record (ticket > messages > list > message,
# four levels); API bodies nest two. 32 leaves room for any honest client and stays far below
# the ~1,000 frames where CPython's json (and DRF's nested serializers) would hit the recursion
# limit.
JSON_MAX_DEPTH = 32

# A JSON string (with its escapes) or one bracket: brackets inside strings do not nest.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


class JSONTooDeep(ValueError):
    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested deeper than {max_depth} levels")


def json_depth_check(text: str, *, max_depth: int = JSON_MAX_DEPTH) -> None:
    """Raise JSONTooDeep when arrays/objects in `text` nest deeper than `max_depth`.

    Only brackets and strings are visited, so a large message body costs one regex match; the
    scan stops at the first level too deep. Malformed text is left for json to report.
    """
    depth = 0
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if piece in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise JSONTooDeep(max_depth)
        elif piece in ("]", "}"):
            depth -= 1


def json_loads_bounded(text: str, *, max_depth: int = JSON_MAX_DEPTH, **kwargs: Any) -> Any:
    """`json.loads`, refusing documents nested deeper than `max_depth` (JSONTooDeep)."""
    json_depth_check(text, max_depth=max_depth)
    return json.loads(text, **kwargs)


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a nesting limit: a too-deep body is a 400, never a RecursionError."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            # DRF's strict mode: NaN and Infinity are not JSON.
            parse_constant = strict_constant if self.strict else None
            return json_loads_bounded(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc

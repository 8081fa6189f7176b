"""The JSON parser of every DRF view: DRF's, plus a clean 400 for input nested too deeply to parse."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding
from rest_framework.utils import json


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # DRF's parse, reading the (size-limited) body at once rather than through a codecs
        # stream reader: the same errors, a measurable part less work on small CI payloads.
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            # Python's json module recurses per nesting level; a body of 100,000 "[" exhausts
            # the stack. DRF only turns ValueError into a 400, so this would otherwise be a 500.
            raise ParseError("JSON parse error - nested too deeply") from None

"""The JSON parser of every DRF view: DRF's, plus a clean 400 for input nested too deeply to parse."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Python's json module recurses per nesting level; a body of 100,000 "[" exhausts
            # the stack. DRF only turns ValueError into a 400, so this would otherwise be a 500.
            raise ParseError("JSON parse error - nested too deeply") from None

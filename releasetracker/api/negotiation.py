"""Content negotiation: DRF's, answered at once when there is nothing to negotiate."""

from rest_framework.negotiation import DefaultContentNegotiation

# Accept values that every JSON renderer satisfies as it is (what CI clients send, or nothing).
PLAIN_ACCEPT = frozenset({"", "*/*", "application/json"})


class JsonContentNegotiation(DefaultContentNegotiation):
    """With one renderer and an Accept header that takes anything or plain JSON, pick it directly.

    Parsing and ranking the Accept header's media types is a measurable share of a small API
    call (bench/ingest.py); every other request (another Accept value, a ``?format=``, the
    browsable API in DEBUG) goes through DRF's negotiation, 406 included. Likewise a body sent
    as plain ``application/json`` goes to the JSON parser without parsing its media type.
    """

    def select_parser(self, request, parsers):
        if request.content_type == "application/json":
            for parser in parsers:
                if parser.media_type == "application/json":
                    return parser
        return super().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            len(renderers) == 1
            and format_suffix is None
            and request.META.get("HTTP_ACCEPT", "*/*").strip() in PLAIN_ACCEPT
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            renderer = renderers[0]
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)

"""Plumbing shared by the vendor-compatible endpoints; each vendor words its refusals its own way."""

import json

from django.http import HttpRequest


def body_json_object(request: HttpRequest) -> dict | None:
    """The request body as a JSON object, or None when it is not valid JSON or not an object.

    Read whatever the Content-Type: vendors' CI snippets often send JSON with curl's form default.
    Absurdly deep nesting (RecursionError) counts as invalid rather than a 500.
    """
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None

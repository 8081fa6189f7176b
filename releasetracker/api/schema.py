"""Error responses shared by every endpoint in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": serializers.CharField(help_text="what went wrong, naming the field and the reason"),
        "code": serializers.CharField(help_text="stable code: validation_error, not_authenticated, ..."),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False),
    },
)


def errors(*codes: int) -> dict:
    text = {
        400: "invalid input",
        401: "missing, unknown, expired or revoked token",
        403: "the token lacks the scope",
        404: "not found in the token's organization",
        409: "conflicts with an existing object",
        413: "request body too large",
        422: "Idempotency-Key reused with another body",
        429: "rate limited",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=text[code]) for code in codes}


# Lists take filters and a cursor: a bad value of either is a 400 naming the parameter.
READ_ERRORS = errors(400, 401, 403, 429)
DETAIL_ERRORS = errors(401, 403, 404, 429)
WRITE_ERRORS = errors(400, 401, 403, 413, 422, 429)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "releasetracker.api.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization's API token: `Authorization: Bearer rt_...` (`Token rt_...` works too).",
        }


class RejectUnknownFieldsExtension(OpenApiSerializerExtension):
    """A request body whose serializer refuses unknown fields says so: ``additionalProperties: false``."""

    target_class = "releasetracker.api.serializers.RejectUnknownFieldsMixin"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["additionalProperties"] = False
        else:
            # A pattern is what this endpoint accepts; stored values may come from another entry
            # point with looser rules (a repository named by a Sentry ref), so answers carry none.
            for prop in schema.get("properties", {}).values():
                prop.pop("pattern", None)
        for name, field in self.target.fields.items():
            # drf-spectacular leaves out a nested list's max_length; the body's limits are in the schema.
            if isinstance(field, serializers.ListSerializer) and field.max_length is not None:
                schema["properties"][name]["maxItems"] = field.max_length
        return schema

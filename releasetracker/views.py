from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from releasetracker.api.schema import READ_ERRORS, errors


@never_cache
@require_GET
def healthz(request):
    """200 when the database answers, 503 when it does not: for load balancers and uptime checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


class OrganizationView(APIView):
    """The token's own organization, and the token's name and scopes: the smallest call to test a token."""

    @extend_schema(
        responses={
            200: inline_serializer(
                "OrganizationWhoAmI",
                {
                    "slug": serializers.CharField(),
                    "name": serializers.CharField(),
                    "token": inline_serializer(
                        "TokenInfo",
                        {
                            "name": serializers.CharField(),
                            "prefix": serializers.CharField(),
                            "scopes": serializers.ListField(child=serializers.CharField()),
                            "expires_at": serializers.DateTimeField(allow_null=True),
                        },
                    ),
                },
            ),
            **READ_ERRORS,
        }
    )
    def get(self, request):
        token = request.auth
        org = token.organization
        return Response(
            {
                "slug": org.slug,
                "name": org.name,
                "token": {
                    "name": token.name,
                    "prefix": token.prefix,
                    "scopes": token.scopes,
                    "expires_at": token.expires_at,
                },
            }
        )


class ApiIndexView(APIView):
    """GET /api/v1/: where the API's resources, schema and docs are. Public, like the docs: it
    names routes only, nothing of any organization."""

    authentication_classes = []
    permission_classes = []
    # (name, URL name) of each resource, set by the URL configuration that routes them.
    endpoints: list[tuple[str, str]] = []

    @extend_schema(
        operation_id="api_index",
        summary="The API's index: its docs, schema and resources (no token needed)",
        responses={
            200: inline_serializer(
                "ApiIndex",
                {
                    "name": serializers.CharField(),
                    "version": serializers.CharField(),
                    "docs": serializers.URLField(help_text="the interactive docs"),
                    "schema": serializers.URLField(help_text="the OpenAPI 3 schema"),
                    "authentication": serializers.CharField(),
                    "endpoints": serializers.DictField(child=serializers.URLField(), help_text="name: URL"),
                },
            ),
            **errors(429),
        },
    )
    def get(self, request):
        def url(name: str) -> str:
            return request.build_absolute_uri(reverse(name))

        return Response(
            {
                "name": "Release Tracker API",
                "version": "v1",
                "docs": url("api:docs"),
                "schema": url("api:schema"),
                "authentication": "Authorization: Bearer <token> (an organization's API token; read scope for GET)",
                "endpoints": {name: url(url_name) for name, url_name in self.endpoints},
            }
        )

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from releasetracker.api.schema import READ_ERRORS


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

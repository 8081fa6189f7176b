from rest_framework import permissions

from releasetracker.models import ApiToken


class HasTokenScope(permissions.BasePermission):
    """Reads need the read scope (write implies read); everything else needs write.

    A view may name the scope it needs with ``required_scope``.
    """

    message = "this token lacks the scope this request needs"

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        scope = getattr(view, "required_scope", None)
        if scope is None:
            scope = ApiToken.Scope.READ if request.method in permissions.SAFE_METHODS else ApiToken.Scope.WRITE
        if not token.has_scope(scope):
            # In the API's own word for its credential (a vendor's "API key").
            name = getattr(request.successful_authenticator, "credential_name", "token")
            self.message = f"this {name} lacks the '{scope}' scope"
            return False
        return True

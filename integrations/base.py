"""The one base of every incoming vendor endpoint (Echoes, iftrue, Multitudes, ...).

A vendor supplies its authentication class (``RequiredTokenAuthentication`` or a subclass that
words its refusals), its request parser (``JSONObjectParser`` unless its doc says otherwise),
its error renderer (``render_error``) and the map of service field names to its own
(``field_names``). Everything else is the same for all of them and lives here: every failure,
wherever it is raised (authentication, scope, a wrong method, the body, the service's
``DomainError``), reaches the renderer as one ``Refusal``, so each vendor's errors keep its
doc's shape. Reads need the token's ``read`` scope, everything else ``write`` (a view may set
``required_scope``). Token authentication makes CSRF moot: DRF exempts its views.

Rate limits are not counted here: ``RateLimitMiddleware`` applies the native API's
throttles to every vendor path before any view runs, so a request without a key (or with a
wrong one) and a path that does not exist count too.

Every vendor's URL configuration ends in ``unknown_paths()``, so any path under its prefix is
one of its views: a path it does not serve is a 404 in its shape, and the middleware that
refuses a request before any view runs (a body over the limit, a rate limit) answers through
the view the path resolves to (``refuse_early``), in the same shape.
"""

import dataclasses
import math
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, re_path
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from releasetracker.api.authentication import RequiredTokenAuthentication
from releasetracker.api.exceptions import flatten_errors
from releasetracker.api.parsers import JSONParser
from releasetracker.api.permissions import HasTokenScope
from releasetracker.errors import DomainError
from releasetracker.models import ApiToken, Organization

NOT_AN_OBJECT = "must be a JSON object"


@dataclass(frozen=True)
class Refusal:
    """A failure as a vendor's renderer receives it: the status, the field at fault in the
    vendor's own name (when there is one), the reason, and headers the answer must carry."""

    status: int
    message: str
    field: str = ""
    headers: dict = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def invalid(field_name: str, message: str) -> exceptions.ValidationError:
    """A 400 naming the vendor's field, for what an adapter checks before calling a service."""
    return exceptions.ValidationError({field_name: message})


class JSONObjectParser(JSONParser):
    """A JSON object, whatever the Content-Type: vendors' curl snippets often send JSON with
    curl's form default. Invalid JSON, nesting too deep to parse and anything but an object
    are all one refusal."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except exceptions.ParseError:
            data = None
        if not isinstance(data, dict):
            raise exceptions.ParseError(NOT_AN_OBJECT)
        return data


class FirstChoiceNegotiation(BaseContentNegotiation):
    """The view's parser and renderer whatever the client asks for (DRF's documented
    "ignore the client" negotiation): vendor clients send any Content-Type and Accept."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class VendorAPIView(APIView):
    # What a vendor supplies.
    authentication_classes = [RequiredTokenAuthentication]
    parser_classes = [JSONObjectParser]
    field_names: dict[str, str] = {}

    def render_error(self, refusal: Refusal) -> HttpResponse:
        raise NotImplementedError

    # The same for every vendor.
    permission_classes = [HasTokenScope]
    throttle_classes = ()  # counted by RateLimitMiddleware (see the module docstring)
    content_negotiation_class = FirstChoiceNegotiation
    # HEAD and OPTIONS are not part of any vendor's API: a 405 like any other method.
    http_method_names = ["get", "post", "put", "patch", "delete"]
    schema = None  # not part of the native API's OpenAPI schema

    @classmethod
    def unknown_paths(cls, name: str) -> URLPattern:
        """The last route of a vendor's URL configuration: every path under its prefix that no
        other route serves is this vendor's 404, whatever the method, before any credential."""
        view = type(f"{cls.__name__}UnknownPath", (UnknownPath, cls), {"__module__": cls.__module__})
        return re_path(r"^.*$", view.as_view(), name=name)

    @classmethod
    def refuse_early(cls, request: HttpRequest, exc: Exception, **initkwargs) -> HttpResponse:
        """This vendor's answer to ``exc`` for a request refused before any view ran (by
        ``releasetracker.middleware``: the body limit, the rate limit), rendered like every
        other refusal of the view ``request`` resolves to."""
        view = cls(**initkwargs)
        # Renderers read the method and path, which the plain request has too.
        view.request, view.args, view.kwargs = request, (), {}
        return view.render_error(view.refusal(exc))

    @property
    def default_response_headers(self) -> dict:
        # DRF sends Allow on every answer; a vendor's answers carry it on a 405 only.
        return {}

    @property
    def token(self) -> ApiToken:
        return self.request.auth

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization

    @property
    def created_by(self) -> str:
        return f"token {self.token.name} ({self.token.prefix})"

    def body(self) -> dict:
        """The request's JSON object. DRF gives an empty body as ``{}`` without asking the
        parser; the vendors' endpoints all need an object, so it is refused like ``[]``."""
        if self.request.stream is None:
            raise exceptions.ParseError(NOT_AN_OBJECT)
        return self.request.data

    def vendor_field(self, name: str) -> str:
        """``projects.3`` in the vendor's words (``deliverables.3``)."""
        head, dot, rest = name.partition(".")
        return self.field_names.get(head, head) + dot + rest

    def handle_exception(self, exc):
        refusal = self.refusal(exc)
        if refusal is None:
            return super().handle_exception(exc)  # not the client's fault: re-raised, a 500
        return self.render_error(refusal)

    def refusal(self, exc: Exception) -> Refusal | None:
        if isinstance(exc, DomainError):
            message = exc.message
            for ours in exc.fields:  # a conflict names the fields that differ in its message
                if ours != exc.field and ours in self.field_names:
                    message = message.replace(ours, self.field_names[ours])
            # Only a 400 is about one field; a conflict or a missing row is about the request.
            named = exc.field if exc.field and exc.status == 400 else ""
            return Refusal(exc.status, message, self.vendor_field(named) if named else "")
        if isinstance(exc, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return Refusal(413, f"the request body is too large (at most {limit} bytes)", "body")
        if isinstance(exc, Http404):
            exc = exceptions.NotFound(str(exc) or None)
        elif isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied(str(exc) or None)
        if isinstance(exc, exceptions.ValidationError):
            name, messages = next(iter(flatten_errors(exc.detail).items()))
            return Refusal(400, messages[0], self.vendor_field(name) if name else "body")
        if isinstance(exc, exceptions.ParseError):
            return Refusal(400, str(exc.detail), "body")
        if isinstance(exc, exceptions.MethodNotAllowed):
            allow = ", ".join(self.allowed_methods)
            return Refusal(405, f"method {self.request.method} is not allowed here", headers={"Allow": allow})
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            # Always a 401: DRF would make it a 403 for an authenticator without a challenge.
            challenge = self.get_authenticate_header(self.request)
            return Refusal(401, str(exc.detail), headers={"WWW-Authenticate": challenge} if challenge else {})
        if isinstance(exc, exceptions.Throttled):
            return Refusal(429, str(exc.detail), headers={"Retry-After": str(math.ceil(exc.wait))} if exc.wait else {})
        if isinstance(exc, exceptions.APIException):
            return Refusal(exc.status_code, str(exc.detail))
        return None


class UnknownPath:
    """Put before a vendor's view (``VendorAPIView.unknown_paths``): a path under the vendor's
    prefix that none of its routes serves. Any method, with or without a credential, is a 404."""

    authentication_classes = ()
    permission_classes = ()

    def initial(self, request, *args, **kwargs) -> None:
        raise exceptions.NotFound(f"{request.method} {request.path} is not an endpoint of this API")


HOOK_CODES = {
    400: "validation_error",
    401: "bad_signature",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "throttled",
}


class SignedHookView(VendorAPIView):
    """A hook at ``/hooks/<tool>/<org-slug>/`` (GitHub, the incident tools), authenticated by a
    signature or a shared secret of the organization in the URL instead of a token: the
    signature is the whole permission. Errors are the native API's shape, which the tools show
    in their delivery logs. A subclass says how a request proves it (``signed_organization``)."""

    permission_classes = []  # the signature is the permission
    http_method_names = ["post"]
    kind = "webhooks"  # what the 405 says only accepts POSTs

    @classmethod
    def signed_organization(cls, request: HttpRequest, org_slug: str) -> Organization | None:
        """The organization named ``org_slug`` when ``request`` proves it knows its secret, else None."""
        raise NotImplementedError

    @classmethod
    def rate_limit_exempt(cls, request: HttpRequest, org_slug: str = "", **kwargs) -> bool:
        """A delivery proven with the organization's secret is not held to the per-IP limit (the
        tools send every customer's deliveries from a few addresses); any other request to this
        path is, and a header alone exempts nothing (``RateLimitMiddleware``)."""
        if request.method != "POST":
            return False
        try:
            request.body  # noqa: B018 - read within the body limit, or not exempt
        except RequestDataTooBig:
            return False
        return cls.signed_organization(request, org_slug) is not None

    def initial(self, request, *args, **kwargs) -> None:
        # The tools only POST: another method is a 405 before any signature is asked for.
        if request.method != "POST":
            self.http_method_not_allowed(request)
        super().initial(request, *args, **kwargs)

    def render_error(self, refusal: Refusal) -> HttpResponse:
        if refusal.status == 405:
            message = f"method {self.request.method} not allowed: {self.kind} are POSTs"
        elif refusal.status == 413:
            message = "body: request body exceeds the configured maximum size"
        else:
            message = str(refusal)
        body = {"error": message, "code": HOOK_CODES.get(refusal.status, "error")}
        if refusal.field and refusal.status == 400:
            body["fields"] = {refusal.field: [refusal.message]}
        return JsonResponse(body, status=refusal.status, headers=refusal.headers)

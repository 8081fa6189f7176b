"""The base of every native API viewset: querysets start from the token's organization."""

import uuid

from django.urls import reverse
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from releasetracker.api.csv import FormatParameterMixin
from releasetracker.api.idempotency import (
    IdempotentReplay,
    body_fingerprint,
    idempotency_lock,
    idempotency_lookup,
    idempotency_store,
    idempotency_unlock,
)
from releasetracker.models import Organization


class OrganizationScopedMixin(FormatParameterMixin):
    """Scope every query by ``request.auth.organization``; honour Idempotency-Key on POST.

    Subclasses set ``model`` (an ``OrgOwned`` model) or override ``base_queryset``. Objects are
    looked up by their public UUID, so another organization's object is simply not found (404).
    """

    model = None
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    # Any id segment reaches get_object, so a version or typo in the id slot gets the JSON 404.
    lookup_value_regex = "[^/]+"

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization

    def base_queryset(self):
        return self.model._default_manager.for_organization(self.organization)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no request.auth
            return self.model._default_manager.none()
        return self.base_queryset()

    def get_object(self):
        # A malformed id names nothing, exactly like another organization's id: 404.
        try:
            uuid.UUID(str(self.kwargs.get(self.lookup_url_kwarg, "")))
        except ValueError:
            raise NotFound("no such object: ids are UUIDs") from None
        return super().get_object()

    def created_response(self, instance, created: bool, *, serializer_class=None, detail_url_name: str) -> Response:
        """201 with Location for a new object; 303 See Other to the existing one for a repeat."""
        serializer = (serializer_class or self.get_serializer_class())(instance, context=self.get_serializer_context())
        return Response(
            serializer.data,
            status=status.HTTP_201_CREATED if created else status.HTTP_303_SEE_OTHER,
            headers={"Location": reverse(detail_url_name, kwargs={"id": instance.public_id})},
        )

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self.request, "auth", None) is not None:
            context["organization"] = self.organization
        return context

    # Idempotency-Key -----------------------------------------------------------------------
    _idempotency = None
    _idempotency_lock = None

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # Released even when the view raised (a 500 skips finalize_response).
            idempotency_unlock(self._idempotency_lock)
            self._idempotency_lock = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency = None
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return
        ident = {
            "organization": self.organization,
            "key": key,
            "method": request.method,
            "path": request.path,
            "fingerprint": body_fingerprint(request.body),
        }
        self._idempotency_lock = idempotency_lock(
            organization=ident["organization"], key=key, method=request.method, path=request.path
        )
        replay = idempotency_lookup(**ident)
        if replay is not None:
            raise IdempotentReplay(replay)
        self._idempotency = ident

    def handle_exception(self, exc):
        if isinstance(exc, IdempotentReplay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._idempotency is not None and response.status_code < 500:
            idempotency_store(**self._idempotency, response=response)
            self._idempotency = None
        return response


class OrganizationScopedViewSet(OrganizationScopedMixin, viewsets.GenericViewSet):
    pass

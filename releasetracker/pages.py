"""Pages shared by every app: sign-in with throttling, organization access, the organization list, API tokens.

Access to an organization's pages is decided by membership alone: a user sees the organizations
they belong to, and any other slug is a 404 (the same answer as a slug that does not exist), so a
page never tells a stranger which organizations exist. Superusers are not special here; they have
the admin for that.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import caches
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django.views.defaults import page_not_found, permission_denied
from rest_framework.throttling import BaseThrottle

from releasetracker import selectors
from releasetracker.errors import DomainError
from releasetracker.models import ApiToken, Membership, Organization, timezone_names
from releasetracker.services import IssuedToken, organization_update, token_issue, token_regenerate, token_revoke

# Sign-in throttling -----------------------------------------------------------------------

# After this many failures for one username from one address, sign-in is refused for the window.
LOGIN_MAX_FAILURES_PER_USER = 5
# A wider net for one address trying many usernames (password spraying).
LOGIN_MAX_FAILURES_PER_ADDRESS = 30
LOGIN_WINDOW = timedelta(minutes=15)
THROTTLED_MESSAGE = (
    "Too many failed sign-in attempts. Sign-in is paused for %(minutes)d minutes for this account from "
    "your network; try again later or ask an administrator to reset your password."
)


def _cache():
    # The same cache as the API's rate limits: shared between processes (a database table by default).
    return caches[getattr(settings, "RATE_LIMIT_CACHE", "default")]


def _client_address(request: HttpRequest) -> str:
    # The same client address as the API's rate limits: REMOTE_ADDR, or the address the trusted
    # proxies (NUM_PROXIES) put in X-Forwarded-For, never a value the client alone chose.
    return BaseThrottle().get_ident(request) or "unknown"


def _throttle_keys(request: HttpRequest, username: str) -> tuple[str, str]:
    address = _client_address(request)
    # Hashed so that arbitrary user input never becomes part of a cache key verbatim.
    user_key = hashlib.sha256(f"{username.strip().lower()}\x00{address}".encode()).hexdigest()
    address_key = hashlib.sha256(address.encode()).hexdigest()
    return f"login-fail:u:{user_key}", f"login-fail:a:{address_key}"


def login_is_throttled(request: HttpRequest, username: str) -> bool:
    user_key, address_key = _throttle_keys(request, username)
    cache = _cache()
    return (cache.get(user_key) or 0) >= LOGIN_MAX_FAILURES_PER_USER or (
        cache.get(address_key) or 0
    ) >= LOGIN_MAX_FAILURES_PER_ADDRESS


def login_record_failure(request: HttpRequest, username: str) -> None:
    timeout = int(LOGIN_WINDOW.total_seconds())
    cache = _cache()
    for key in _throttle_keys(request, username):
        # add() starts the window at the first failure; incr() keeps its expiry.
        if not cache.add(key, 1, timeout):
            try:
                cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.add(key, 1, timeout)


def login_clear_failures(request: HttpRequest, username: str) -> None:
    user_key, _ = _throttle_keys(request, username)
    _cache().delete(user_key)


class LoginThrottleMixin:
    """Refuse to even check a password once too many attempts failed; count each failure.

    Throttling is keyed by the username as typed, existing or not, so it does not reveal which
    usernames exist. Used by the sign-in page and by the admin's sign-in page.
    """

    throttled = False

    def clean(self):
        username = self.data.get("username", "") or ""
        if login_is_throttled(self.request, username):
            self.throttled = True
            raise ValidationError(
                THROTTLED_MESSAGE, code="throttled", params={"minutes": int(LOGIN_WINDOW.total_seconds() // 60)}
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            login_record_failure(self.request, username)
            raise
        login_clear_failures(self.request, username)
        return cleaned


class ThrottledAuthenticationForm(LoginThrottleMixin, AuthenticationForm):
    """Django's sign-in form, throttled. An unknown user and a wrong password get the same message."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match. Check both and try again.",
    }


class ThrottledAdminAuthenticationForm(LoginThrottleMixin, AdminAuthenticationForm):
    """The admin's sign-in form, throttled with the same counters as the pages' sign-in."""


class ThrottledLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if getattr(form, "throttled", False):
            response.status_code = 429
        return response


# Organization access ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgAccess:
    organization: Organization
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Membership.Role.ADMIN


def org_access(request: HttpRequest, slug: str) -> OrgAccess:
    """The user's membership of the organization ``slug``, or a 404 whether it exists or not."""
    membership = selectors.membership_get(user=request.user, organization_slug=slug)
    if membership is None:
        raise Http404("No such organization")
    return OrgAccess(organization=membership.organization, role=membership.role)


def org_page(view):
    """Login required; resolves ``org_slug`` to ``request.org`` (404 unless a member) before the view."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, org_slug: str, *args, **kwargs) -> HttpResponse:
        # The pages answer their own 404 and 403 (Django's default views and templates), so the
        # answer does not depend on how middleware further out treats exceptions.
        try:
            access = org_access(request, org_slug)
            request.org = access.organization
            request.org_access = access
            # Times and days on the organization's pages read in its time zone.
            timezone.activate(ZoneInfo(access.organization.timezone))
            try:
                return view(request, *args, **kwargs)
            finally:
                timezone.deactivate()
        except Http404 as error:
            return page_not_found(request, error)
        except PermissionDenied as error:
            return permission_denied(request, error)

    return wrapper


def org_admin_page(view):
    """Like ``org_page``, for organization admins only: a viewer gets a 403 page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.org_access.is_admin:
            raise PermissionDenied("Only the organization's admins can change its settings, tokens and webhooks.")
        return view(request, *args, **kwargs)

    return org_page(wrapper)


def page_context(request: HttpRequest, **extra) -> dict:
    return {"org": request.org, "org_access": request.org_access, **extra}


# The organization list -------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(selectors.membership_list(user=request.user))
    if len(memberships) == 1:
        return redirect("releases:timeline", org_slug=memberships[0].organization.slug)
    return render(request, "orgs/index.html", {"memberships": memberships})


@org_page
def org_home(request: HttpRequest) -> HttpResponse:
    return redirect("releases:timeline", org_slug=request.org.slug)


def see_other(url: str) -> HttpResponse:
    """303 See Other after a form's POST: the browser follows with a GET, so a reload of the page
    it lands on posts nothing again (post/redirect/get)."""
    response = redirect(url)
    response.status_code = 303
    return response


# Organization settings ---------------------------------------------------------------------------


class OrganizationSettingsForm(forms.Form):
    timezone = forms.ChoiceField(
        label="Time zone",
        help_text="Pages show times and group days in this zone; hover a time for UTC. The API always answers in UTC.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(name, name) for name in sorted(timezone_names())]


@require_http_methods(["GET", "POST"])
@org_admin_page
def organization_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        form = OrganizationSettingsForm(initial={"timezone": request.org.timezone})
        return render(request, "settings/organization.html", page_context(request, form=form, nav="settings"))
    form = OrganizationSettingsForm(request.POST)
    if form.is_valid():
        try:
            organization_update(organization=request.org, timezone=form.cleaned_data["timezone"])
        except DomainError as error:
            form.add_error("timezone" if error.field == "timezone" else None, error.message)
    if form.errors:
        context = page_context(request, form=form, nav="settings")
        return render(request, "settings/organization.html", context, status=400)
    messages.success(request, f"Times on {request.org.name}'s pages are now shown in {request.org.timezone}.")
    return see_other(reverse("orgs:settings", kwargs={"org_slug": request.org.slug}))


# API tokens ------------------------------------------------------------------------------------

EXPIRY_CHOICES = [("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the token is used, e.g. “github-actions deploy”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiToken.Scope.WRITE],
        help_text="Write lets CI record releases and deployments (and read them back); read is for dashboards.",
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False, label="Expires"
    )


# A clear value just made (a token, a hook secret) waits in the session for exactly one GET of its
# page (post/redirect/get: reloading that page does not make a second one); reading it removes it.
# One left unread (the redirect never followed) is dropped once stale rather than shown much later.
ISSUED_SESSION_KEY = "tokens:issued"
SHOW_ONCE_FOR = timedelta(minutes=5)


def show_once_keep(request: HttpRequest, key: str, value: dict) -> None:
    """Keep ``value`` (which holds a clear secret) in the session for the next GET of this organization's page."""
    request.session[key] = {**value, "organization": request.org.pk, "issued_at": timezone.now().timestamp()}


def show_once_take(request: HttpRequest, key: str) -> dict | None:
    """The value kept under ``key``, removed from the session; None on a POST, for another
    organization, or when older than ``SHOW_ONCE_FOR``."""
    if request.method != "GET":
        return None
    waiting = request.session.pop(key, None)
    if not isinstance(waiting, dict) or waiting.get("organization") != request.org.pk:
        return None
    issued_at = waiting.get("issued_at")
    if not isinstance(issued_at, int | float):
        return None
    age = timezone.now().timestamp() - issued_at
    if not 0 <= age <= SHOW_ONCE_FOR.total_seconds():
        return None
    return waiting


def _tokens_page(request: HttpRequest, form: TokenCreateForm, *, status=200) -> HttpResponse:
    issued = None
    waiting = show_once_take(request, ISSUED_SESSION_KEY)
    if waiting:
        token = selectors.token_get(organization=request.org, public_id=waiting["public_id"])
        if token is not None:
            issued = IssuedToken(token=token, clear=waiting["clear"])
    context = page_context(request, tokens=selectors.token_list(organization=request.org), form=form, issued=issued)
    response = render(request, "settings/tokens.html", context, status=status)
    if issued is not None:
        # The clear token is in this body only: keep it out of every cache and of the back button.
        response["Cache-Control"] = "no-store"
    return response


def _back_to_tokens(request: HttpRequest) -> HttpResponse:
    return see_other(reverse("orgs:tokens", kwargs={"org_slug": request.org.slug}))


def _show_once(request: HttpRequest, issued: IssuedToken) -> HttpResponse:
    show_once_keep(request, ISSUED_SESSION_KEY, {"public_id": str(issued.token.public_id), "clear": issued.clear})
    return _back_to_tokens(request)


@require_http_methods(["GET", "POST"])
@org_admin_page
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _tokens_page(request, TokenCreateForm())
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form, status=400)
    days = form.cleaned_data["expires_in_days"]
    try:
        issued = token_issue(
            organization=request.org,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _tokens_page(request, form, status=400)
    return _show_once(request, issued)


def _token_or_404(request: HttpRequest, public_id) -> ApiToken:
    token = selectors.token_get(organization=request.org, public_id=public_id)
    if token is None:
        raise Http404("No such token")
    return token


def _confirm_page(request: HttpRequest, token: ApiToken, action: str) -> HttpResponse:
    # A GET on an action's URL asks before acting: the buttons in the list lead here, and a link
    # followed or a URL typed gets a question instead of a bare 405.
    return render(request, "settings/token_confirm.html", page_context(request, token=token, action=action))


@require_http_methods(["GET", "POST"])
@org_admin_page
def token_revoke_view(request: HttpRequest, public_id) -> HttpResponse:
    token = _token_or_404(request, public_id)
    if request.method == "GET":
        return _confirm_page(request, token, "revoke")
    token = token_revoke(organization=request.org, token=token)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked; requests using it now get a 401.")
    return _back_to_tokens(request)


@require_http_methods(["GET", "POST"])
@org_admin_page
def token_regenerate_view(request: HttpRequest, public_id) -> HttpResponse:
    token = _token_or_404(request, public_id)
    if token.revoked_at is not None:
        messages.error(request, f"Token “{token.name}” is already revoked; create a new one instead.")
        return _back_to_tokens(request)
    if request.method == "GET":
        return _confirm_page(request, token, "regenerate")
    return _show_once(request, token_regenerate(organization=request.org, token=token))

"""The incidents page (/orgs/<slug>/incidents/) and the incident settings (hook URLs and secrets)."""

from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from deployments.selectors import environment_list
from incidents import selectors, services
from incidents.models import IncidentSource, IncidentStatus
from incidents.services import MAX_ATTRIBUTION_WINDOW
from releases.selectors import project_list
from releasetracker.errors import DomainError
from releasetracker.page_helpers import (
    DateRangeMixin,
    MetricsLinkMixin,
    OrgFilterForm,
    paginate,
    query_without,
)
from releasetracker.pages import org_admin_page, org_page, page_context, see_other, show_once_keep, show_once_take


class IncidentFilterForm(MetricsLinkMixin, DateRangeMixin, OrgFilterForm):
    field_order = ["status", "environment", "is_production", "project", "since", "until"]
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *IncidentStatus.choices])


@org_page
def incidents(request: HttpRequest) -> HttpResponse:
    org = request.org
    environments = list(environment_list(organization=org).values_list("name", flat=True))
    projects = list(project_list(organization=org).values_list("name", flat=True))
    form = IncidentFilterForm(request.GET, projects=projects, environments=environments)
    filters = form.filters()
    queryset = selectors.incident_list(organization=org)
    if "status" in filters:
        queryset = queryset.filter(status=filters["status"])
    if "environment" in filters:
        queryset = queryset.filter(environment__name=filters["environment"])
    if "is_production" in filters:
        queryset = queryset.filter(environment__is_production=True)
    if "project" in filters:
        queryset = queryset.filter(project__name=filters["project"])
    since, until = form.bounds()
    if since is not None:
        queryset = queryset.filter(started_at__gte=since)
    if until is not None:
        queryset = queryset.filter(started_at__lt=until)
    page, per_page = paginate(request, queryset)
    context = page_context(
        request,
        form=form,
        filtered=bool(filters),
        page=page,
        per_page=per_page,
        page_query=query_without(request, "page"),
        dates_in_utc=form.days_tz() is not None,
        nav="incidents",
    )
    return render(request, "incidents/list.html", context, status=400 if form.errors else 200)


# Settings -------------------------------------------------------------------------------------

HOOKS = [
    (IncidentSource.PAGERDUTY, "PagerDuty", "pagerduty-hook"),
    (IncidentSource.OPSGENIE, "Opsgenie", "opsgenie-hook"),
    (IncidentSource.GENERIC, "Generic (Grafana, Alertmanager, scripts)", "incidents-hook"),
]


class WindowForm(forms.Form):
    attribution_window_days = forms.IntegerField(
        min_value=1,
        max_value=MAX_ATTRIBUTION_WINDOW.days,
        label="Attribution window (days)",
        help_text="An incident that names no deployment is blamed on one that finished at most this long before it.",
    )


class PagerDutySecretForm(forms.Form):
    pagerduty_secret = forms.CharField(
        max_length=200,
        label="PagerDuty signing secret",
        help_text="PagerDuty shows it once, when you create the webhook subscription: paste it here.",
    )


def _hook_url(request: HttpRequest, name: str) -> str:
    path = reverse(name, kwargs={"org_slug": request.org.slug})
    public = getattr(settings, "PUBLIC_URL", "")
    return f"{public}{path}" if public else request.build_absolute_uri(path)


# The clear value of a secret just made waits in the session for one GET of the settings page
# (post/redirect/get, as the tokens page does): a reload never posts again, so never replaces it.
MADE_SESSION_KEY = "incidents:secret"
LABELS = {source: label for source, label, _ in HOOKS}
MADE_HERE = (IncidentSource.OPSGENIE, IncidentSource.GENERIC)


def _back_to_settings(request: HttpRequest, query: str = "") -> HttpResponse:
    url = reverse("orgs:incident-settings", kwargs={"org_slug": request.org.slug})
    return see_other(f"{url}?{query}" if query else url)


def _has_secret(current, source: str) -> bool:
    return bool(getattr(current, selectors.SECRET_FIELDS[source]))


@require_http_methods(["GET", "POST"])
@org_admin_page
def incident_settings(request: HttpRequest) -> HttpResponse:
    org = request.org
    current = selectors.incident_settings_get(organization=org)
    window_form = WindowForm(initial={"attribution_window_days": current.attribution_window.days})
    pagerduty_form = PagerDutySecretForm()
    created: tuple[str, str] | None = None
    replacing: dict | None = None
    status = 200
    if request.method == "GET":
        waiting = show_once_take(request, MADE_SESSION_KEY)
        if waiting and waiting.get("source") in MADE_HERE:
            created = (LABELS[waiting["source"]], waiting["clear"])
        asked = request.GET.get("replace")
        if asked in MADE_HERE and _has_secret(current, asked):
            replacing = {"source": asked, "label": LABELS[asked]}
    else:
        action = request.POST.get("action", "")
        try:
            if action == "window":
                window_form = WindowForm(request.POST)
                if window_form.is_valid():
                    days = window_form.cleaned_data["attribution_window_days"]
                    services.incident_settings_update(organization=org, attribution_window=timedelta(days=days))
                    messages.success(request, f"Attribution window set to {days} days.")
                    return _back_to_settings(request)
                status = 400
            elif action == "pagerduty":
                pagerduty_form = PagerDutySecretForm(request.POST)
                if pagerduty_form.is_valid():
                    services.incident_settings_update(
                        organization=org, pagerduty_secret=pagerduty_form.cleaned_data["pagerduty_secret"]
                    )
                    messages.success(request, "PagerDuty signing secret saved.")
                    return _back_to_settings(request)
                status = 400
            elif action in MADE_HERE:
                if _has_secret(current, action) and request.POST.get("confirm") != "yes":
                    # Replacing a secret breaks the tool that uses it: only after the question is answered.
                    return _back_to_settings(request, urlencode({"replace": action}))
                secret, _ = services.incident_secret_ensure(organization=org, source=action, rotate=True)
                show_once_keep(request, MADE_SESSION_KEY, {"source": action, "clear": secret})
                return _back_to_settings(request)
            else:
                messages.error(request, "Unknown action.")
                status = 400
        except DomainError as error:
            messages.error(request, str(error))
            status = 400
    hooks = [
        {
            "source": source,
            "label": label,
            "url": _hook_url(request, name),
            "configured": _has_secret(current, source),
        }
        for source, label, name in HOOKS
    ]
    context = page_context(
        request,
        nav="incidents",
        hooks=hooks,
        window_form=window_form,
        pagerduty_form=pagerduty_form,
        created=created,
        replacing=replacing,
    )
    response = render(request, "incidents/settings.html", context, status=status)
    if created is not None:
        response["Cache-Control"] = "no-store"  # the new secret is in this body only
    return response

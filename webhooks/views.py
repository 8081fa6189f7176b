"""/orgs/<slug>/settings/webhooks/: organization admins manage outgoing webhooks and see deliveries."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from deployments.selectors import environment_list
from releases.selectors import project_list
from releasetracker.errors import DomainError
from releasetracker.pages import org_admin_page, page_context
from webhooks import selectors, services
from webhooks.models import (
    CHAT_EVENTS,
    SUBSCRIBABLE_EVENTS,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookFormat,
)


class EndpointForm(forms.Form):
    format = forms.ChoiceField(
        choices=WebhookFormat.choices,
        initial=WebhookFormat.JSON,
        required=False,  # JSON when left out, as before formats existed
        widget=forms.RadioSelect,
        help_text="Slack, Teams and Discord get a message in their own shape; JSON gets our signed payload.",
    )
    url = forms.URLField(max_length=500, assume_scheme="https", label="URL")
    events = forms.MultipleChoiceField(
        choices=SUBSCRIBABLE_EVENTS,
        widget=forms.CheckboxSelectMultiple,
        initial=[WebhookEvent.DEPLOYMENT_FAILED],
    )
    project = forms.ChoiceField(required=False, help_text="Only events of this project (default: all).")
    environment = forms.ChoiceField(required=False, help_text="Only events of this environment (default: all).")
    secret = forms.CharField(
        max_length=128,
        required=False,
        help_text="JSON only. Leave empty to generate one; it is shown once, after saving.",
    )
    description = forms.CharField(max_length=200, required=False)

    def clean_format(self) -> str:
        return self.cleaned_data["format"] or WebhookFormat.JSON

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "All projects")] + [
            (name, name) for name in project_list(organization=organization).values_list("name", flat=True)
        ]
        self.fields["environment"].choices = [("", "All environments")] + [
            (name, name) for name in environment_list(organization=organization).values_list("name", flat=True)
        ]


def _page(request: HttpRequest, form: EndpointForm, *, created: WebhookEndpoint | None = None, status: int = 200):
    endpoints = selectors.endpoint_list_with_recent_deliveries(organization=request.org)
    rows = [(endpoint, endpoint.recent_deliveries) for endpoint in endpoints]
    context = page_context(
        request,
        nav="webhooks",
        rows=rows,
        form=form,
        created=created,
        chat_events=[str(event) for event in CHAT_EVENTS],
        public_url=getattr(settings, "PUBLIC_URL", ""),
    )
    response = render(request, "settings/webhooks.html", context, status=status)
    if created is not None:
        response["Cache-Control"] = "no-store"  # the secret, or a chat URL, is in this body only
    return response


@require_http_methods(["GET", "POST"])
@org_admin_page
def webhooks(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, EndpointForm(organization=request.org))
    form = EndpointForm(request.POST, organization=request.org)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        endpoint = services.endpoint_create(organization=request.org, **form.cleaned_data)
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _page(request, form, status=400)
    return _page(request, EndpointForm(organization=request.org), created=endpoint, status=201)


def _endpoint_or_404(request: HttpRequest, public_id) -> WebhookEndpoint:
    endpoint = selectors.endpoint_get(organization=request.org, public_id=public_id)
    if endpoint is None:
        raise Http404("No such webhook")
    return endpoint


def _back(request: HttpRequest) -> HttpResponse:
    return redirect("orgs:webhooks", org_slug=request.org.slug)


@require_POST
@org_admin_page
def webhook_toggle(request: HttpRequest, public_id) -> HttpResponse:
    endpoint = _endpoint_or_404(request, public_id)
    endpoint = services.endpoint_update(organization=request.org, endpoint=endpoint, is_active=not endpoint.is_active)
    state = "active" if endpoint.is_active else "paused: nothing is sent to it"
    messages.success(request, f"Webhook {endpoint.url} is {state}.")
    return _back(request)


@require_POST
@org_admin_page
def webhook_delete(request: HttpRequest, public_id) -> HttpResponse:
    endpoint = _endpoint_or_404(request, public_id)
    services.endpoint_delete(organization=request.org, endpoint=endpoint)
    messages.success(request, f"Webhook {endpoint.url} is deleted.")
    return _back(request)


@require_POST
@org_admin_page
def webhook_test(request: HttpRequest, public_id) -> HttpResponse:
    endpoint = _endpoint_or_404(request, public_id)
    delivery = services.endpoint_test(organization=request.org, endpoint=endpoint)
    if delivery.state == WebhookDelivery.State.DELIVERED:
        messages.success(request, f"Test message delivered to {endpoint} (HTTP {delivery.last_status_code}).")
    else:
        answer = f"HTTP {delivery.last_status_code}" if delivery.last_status_code else "no answer"
        messages.error(
            request,
            f"Test message to {endpoint} failed: {answer}: {delivery.last_response[:200]}. "
            "It is retried like any delivery; see its recent deliveries.",
        )
    return _back(request)


@require_POST
@org_admin_page
def delivery_redeliver(request: HttpRequest, public_id, delivery_id) -> HttpResponse:
    endpoint = _endpoint_or_404(request, public_id)
    delivery = selectors.delivery_get(organization=request.org, endpoint=endpoint, public_id=delivery_id)
    if delivery is None:
        raise Http404("No such delivery")
    services.delivery_redeliver(organization=request.org, delivery=delivery)
    messages.success(request, f"Delivery of {delivery.event} is queued again.")
    return _back(request)

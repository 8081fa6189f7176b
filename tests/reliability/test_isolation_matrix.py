"""Isolation matrix: for every route in the URL resolver, organization A sees nothing of organization B.

The route list comes from the resolver itself, and ``test_every_route_has_a_case`` fails on a
route that has no entry in ``ROUTES``: a route added later cannot be skipped silently.

Both organizations have a project "web", an environment "production" and a release "1.0.0",
so lookups by name hit a same-named row in each; everything else of B's carries the marker
"globexsecret", which must never appear in an answer to A. Where a URL names B's objects (by
id, by B-only name, or by B's slug), A gets a 403 or 404 and B's rows stay as they were.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from deployments.models import Deployment, Environment
from deployments.services import deployment_record
from releases.models import Commit, Project, Release, Repository
from releases.services import CommitInput, release_create
from releasetracker.models import ApiToken
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, issue_token

MARKER = "globexsecret"
B_SHA = "badc0ffee0" * 4
A_SHA = "acacacacac" * 4

pytestmark = pytest.mark.django_db


# The route table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """How to probe one route.

    kind: "public" (no tenant data: only the marker check), "api" (A's token), "page" (A's
    user), "hook" (no token: B's slug without B's signature).
    names_b: the route's kwargs filled with B's objects (attribute names of ``World``); the
    answer must then be one of ``refused``. Routes whose kwargs are all shared names (project
    "web", ...) are answered for A: any status under 500, without B's marker.
    """

    kind: str
    methods: tuple[str, ...] = ("GET",)
    kwargs: dict = field(default_factory=dict)
    refused: tuple[int, ...] = (403, 404)
    # A query string whose <name> placeholders are filled like the route's kwargs (routes that
    # name their objects in the query, like the compare).
    query: str = ""


def api_detail(obj: str, methods=("GET",), **extra) -> Case:
    return Case("api", methods, {"id": obj, **extra})


ARTIFACTS = (400, 403, 404)

ROUTES: dict[str, Case] = {
    # No tenant data.
    "healthz": Case("public"),
    "api/v1/schema/": Case("public"),
    "api/v1/": Case("public"),
    "api/v1/docs/": Case("public"),
    "accounts/login/": Case("public"),
    "accounts/logout/": Case("public", ("POST",)),
    "": Case("page"),  # the organization list: A's only
    # Native API: lists are A's; B's ids are 404 whatever the method.
    "api/v1/organization/": Case("api"),
    "api/v1/metrics/dora/": Case("api"),
    # B's version is unknown to A; by environment, A's own live releases are compared.
    "api/v1/compare/": Case(
        "api", kwargs={"head": "unmarked_version"}, refused=(404,), query="?base=1.0.0&head=<head>"
    ),
    "api/v1/releases/": Case("api"),
    "api/v1/releases/<id>/": api_detail("release", ("GET", "PATCH")),
    "api/v1/releases/<id>/commits/": api_detail("release", ("POST",)),
    "api/v1/commits/": Case("api"),
    "api/v1/commits/<id>/": api_detail("commit"),
    "api/v1/projects/": Case("api"),
    "api/v1/projects/<id>/": api_detail("project"),
    "api/v1/repositories/": Case("api"),
    "api/v1/repositories/<id>/": api_detail("repository"),
    "api/v1/deployments/": Case("api"),
    "api/v1/deployments/<id>/": api_detail("deployment", ("GET", "PATCH")),
    "api/v1/incidents/": Case("api", ("GET", "POST")),
    "api/v1/incidents/<id>/": api_detail("incident", ("GET", "PATCH")),
    "api/v1/environments/": Case("api"),
    "api/v1/environments/<id>/": api_detail("environment", ("GET", "PATCH")),
    "api/v1/environments/live/": Case("api"),
    "api/v1/webhooks/": Case("api"),
    "api/v1/webhooks/<id>/": api_detail("webhook", ("GET", "PATCH", "DELETE")),
    "api/v1/webhooks/<id>/deliveries/": api_detail("webhook"),
    "api/v1/webhooks/<id>/test/": api_detail("webhook", ("POST",)),
    "api/v1/webhooks/<id>/deliveries/<delivery_id>/redeliver/": api_detail(
        "webhook", ("POST",), delivery_id="delivery"
    ),
    # Echoes: B's release id is not found.
    "v1/signals/releases/": Case("api", ("GET",)),
    "v1/signals/releases/<release_id>/": Case("api", ("GET", "PATCH"), {"release_id": "release"}),
    "v1/signals/deployments/": Case("api", ("GET",)),
    "v1/signals/deployments/<release_id>/": Case("api", ("GET", "PATCH"), {"release_id": "release"}),
    "v1/signals/deployments/<release_id>/status/": Case("api", ("POST",), {"release_id": "release"}),
    # Every vendor prefix ends in a catch-all: a path it does not serve is its 404, with A's token too.
    "v1/signals/.*": Case("api", ("GET", "POST")),
    # Aviator: by names; B-only names find nothing of B's, shared names answer A's rows.
    "api/releases/<project>/releases/<version>/": Case(
        "api", ("GET",), {"project": "shared_project", "version": "only_b_version"}, refused=(404, 405)
    ),
    "api/releases/<project>/environments/<env>/deployments/": Case(
        "api", ("GET",), {"project": "shared_project", "env": "shared_env"}
    ),
    "api/releases/<project>/environments/<env>/rollback/": Case(
        "api", ("GET",), {"project": "shared_project", "env": "shared_env"}
    ),
    "api/releases/.*": Case("api", ("GET", "POST")),
    # Aviator's GitHub Actions calls name their row in the body (B's ids are 404s there:
    # tests/compat/test_aviator.py); probed here for answers under 500 without B's marker.
    "api/v1/sync-build-github-action": Case("api", ("POST",)),
    "api/v1/sync-deploy-github-action": Case("api", ("POST",)),
    # Sentry: another organization's slug is a 403; B-only versions are not found.
    "api/0/": Case("api"),
    "api/0/.*": Case("public"),
    "api/0/organizations/<org_slug>/repos/": Case("api", ("GET",), {"org_slug": "slug"}),
    "api/0/organizations/<org_slug>/releases/": Case("api", ("GET", "POST"), {"org_slug": "slug"}),
    "api/0/organizations/<org_slug>/releases/<version>/": Case(
        "api", ("GET", "PUT"), {"org_slug": "slug", "version": "only_b_version"}
    ),
    "api/0/organizations/<org_slug>/releases/<version>/commits/": Case(
        "api", ("GET",), {"org_slug": "slug", "version": "only_b_version"}
    ),
    "api/0/organizations/<org_slug>/releases/<version>/previous-with-commits/": Case(
        "api", ("GET",), {"org_slug": "slug", "version": "only_b_version"}
    ),
    "api/0/organizations/<org_slug>/releases/<version>/deploys/": Case(
        "api", ("GET", "POST"), {"org_slug": "slug", "version": "only_b_version"}
    ),
    "api/0/projects/<org_slug>/<project_slug>/releases/": Case(
        "api", ("GET", "POST"), {"org_slug": "slug", "project_slug": "shared_project"}
    ),
    "api/0/projects/<org_slug>/<project_slug>/releases/<version>/": Case(
        "api", ("GET", "PUT"), {"org_slug": "slug", "project_slug": "shared_project", "version": "only_b_version"}
    ),
    "api/0/projects/<org_slug>/<project_slug>/releases/<version>/commits/": Case(
        "api", ("GET",), {"org_slug": "slug", "project_slug": "shared_project", "version": "only_b_version"}
    ),
    "api/0/projects/<org_slug>/<project_slug>/releases/<version>/previous-with-commits/": Case(
        "api", ("GET",), {"org_slug": "slug", "project_slug": "shared_project", "version": "only_b_version"}
    ),
    "api/0/projects/<org_slug>/<project_slug>/releases/<version>/deploys/": Case(
        "api", ("GET", "POST"), {"org_slug": "slug", "project_slug": "shared_project", "version": "only_b_version"}
    ),
    # Artifact uploads and lists: refused for every organization (this server stores none), so
    # B's version or file answers the same 400 as any other.
    "api/0/organizations/<org_slug>/chunk-upload/": Case("api", ("GET", "POST"), {"org_slug": "slug"}, ARTIFACTS),
    "api/0/organizations/<org_slug>/artifactbundle/assemble/": Case("api", ("POST",), {"org_slug": "slug"}, ARTIFACTS),
    "api/0/organizations/<org_slug>/releases/<version>/assemble/": Case(
        "api", ("POST",), {"org_slug": "slug", "version": "only_b_version"}, ARTIFACTS
    ),
    "api/0/organizations/<org_slug>/releases/<version>/files/": Case(
        "api", ("GET", "POST"), {"org_slug": "slug", "version": "only_b_version"}, ARTIFACTS
    ),
    "api/0/organizations/<org_slug>/releases/<version>/files/<file_id>/": Case(
        "api", ("GET",), {"org_slug": "slug", "version": "only_b_version", "file_id": "slug"}, ARTIFACTS
    ),
    "api/0/projects/<org_slug>/<project_slug>/files/<rest>": Case(
        "api", ("GET", "POST"), {"org_slug": "slug", "project_slug": "shared_project", "rest": "slug"}, ARTIFACTS
    ),
    "api/0/projects/<org_slug>/<project_slug>/releases/<version>/files/": Case(
        "api",
        ("GET", "POST"),
        {"org_slug": "slug", "project_slug": "shared_project", "version": "only_b_version"},
        ARTIFACTS,
    ),
    "api/0/projects/<org_slug>/<project_slug>/releases/<version>/files/<file_id>/": Case(
        "api",
        ("GET",),
        {"org_slug": "slug", "project_slug": "shared_project", "version": "only_b_version", "file_id": "slug"},
        ARTIFACTS,
    ),
    # Writes only: GET must not list anything of B's.
    "compat/iftrue/v1/organization/deployment/": Case("api", ("GET",)),
    "compat/multitudes/deployments/": Case("api", ("GET",)),
    "compat/iftrue/.*": Case("api", ("GET", "POST")),
    "compat/multitudes/.*": Case("api", ("GET", "POST")),
    # GitHub: authenticated by B's webhook secret; B's slug without it writes nothing.
    "hooks/github/<org_slug>/": Case("hook", ("POST",), {"org_slug": "slug"}, refused=(400, 401, 403, 404)),
    "hooks/github/<org_slug>": Case("hook", ("POST",), {"org_slug": "slug"}, refused=(400, 401, 403, 404)),
    "hooks/github/.*": Case("public", ("GET", "POST")),
    # Incident hooks: authenticated by B's hook secrets; B's slug without them writes nothing.
    "hooks/pagerduty/<org_slug>/": Case("hook", ("POST",), {"org_slug": "slug"}, refused=(400, 401, 403, 404)),
    "hooks/pagerduty/<org_slug>": Case("hook", ("POST",), {"org_slug": "slug"}, refused=(400, 401, 403, 404)),
    "hooks/pagerduty/.*": Case("public", ("GET", "POST")),
    "hooks/opsgenie/<org_slug>/": Case("hook", ("POST",), {"org_slug": "slug"}, refused=(400, 401, 403, 404)),
    "hooks/opsgenie/<org_slug>": Case("hook", ("POST",), {"org_slug": "slug"}, refused=(400, 401, 403, 404)),
    "hooks/opsgenie/.*": Case("public", ("GET", "POST")),
    "hooks/incidents/<org_slug>/": Case("hook", ("POST",), {"org_slug": "slug"}, refused=(400, 401, 403, 404)),
    "hooks/incidents/<org_slug>": Case("hook", ("POST",), {"org_slug": "slug"}, refused=(400, 401, 403, 404)),
    "hooks/incidents/.*": Case("public", ("GET", "POST")),
    # Pages: B's slug is a 404; A's slug with B's object is a 404; A's lists show nothing of B.
    "orgs/<org_slug>/": Case("page", ("GET",), {"org_slug": "slug"}),
    "orgs/<org_slug>/releases/": Case("page", ("GET",), {"org_slug": "slug"}),
    "orgs/<org_slug>/releases/<key>/": Case("page", ("GET",), {"org_slug": "slug", "key": "only_b_version"}),
    "orgs/<org_slug>/deployments/": Case("page", ("GET",), {"org_slug": "slug"}),
    "orgs/<org_slug>/incidents/": Case("page", ("GET",), {"org_slug": "slug"}),
    "orgs/<org_slug>/settings/incidents/": Case("page", ("GET", "POST"), {"org_slug": "slug"}),
    "orgs/<org_slug>/metrics/": Case("page", ("GET",), {"org_slug": "slug"}),
    "orgs/<org_slug>/settings/": Case("page", ("GET", "POST"), {"org_slug": "slug"}),
    "orgs/<org_slug>/compare/": Case(
        "page", ("GET",), {"org_slug": "slug", "head": "unmarked_version"}, query="?base=1.0.0&head=<head>"
    ),
    "orgs/<org_slug>/environments/": Case("page", ("GET",), {"org_slug": "slug"}),
    "orgs/<org_slug>/settings/tokens/": Case("page", ("GET", "POST"), {"org_slug": "slug"}),
    "orgs/<org_slug>/settings/tokens/<public_id>/revoke/": Case(
        "page", ("GET", "POST"), {"org_slug": "slug", "public_id": "token"}
    ),
    "orgs/<org_slug>/settings/tokens/<public_id>/regenerate/": Case(
        "page", ("GET", "POST"), {"org_slug": "slug", "public_id": "token"}
    ),
    "orgs/<org_slug>/settings/webhooks/": Case("page", ("GET", "POST"), {"org_slug": "slug"}),
    "orgs/<org_slug>/settings/webhooks/<public_id>/toggle/": Case(
        "page", ("POST",), {"org_slug": "slug", "public_id": "webhook"}
    ),
    "orgs/<org_slug>/settings/webhooks/<public_id>/delete/": Case(
        "page", ("POST",), {"org_slug": "slug", "public_id": "webhook"}
    ),
    "orgs/<org_slug>/settings/webhooks/<public_id>/test/": Case(
        "page", ("POST",), {"org_slug": "slug", "public_id": "webhook"}
    ),
    "orgs/<org_slug>/settings/webhooks/<public_id>/deliveries/<delivery_id>/redeliver/": Case(
        "page", ("POST",), {"org_slug": "slug", "public_id": "webhook", "delivery_id": "delivery"}
    ),
}


def normalize(route: str) -> str:
    """'api/v1/^releases/(?P<id>[^/.]+)/$' -> 'api/v1/releases/<id>/'; '<slug:org_slug>' -> '<org_slug>'."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    route = re.sub(r"<\w+:(\w+)>", r"<\1>", route)
    route = route.replace("^", "").replace("$", "").replace("/?", "/").replace("\\", "")
    return route


def resolver_routes() -> dict[str, URLPattern]:
    """Every route of the project except Django's admin and DRF's format-suffix duplicates."""
    found: dict[str, URLPattern] = {}

    def walk(resolver: URLResolver, prefix: str) -> None:
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route.startswith("admin/"):
                    continue  # the admin: staff only, tested below
                walk(pattern, route)
            elif "(?P<format>" not in route:
                found.setdefault(normalize(route), pattern)

    walk(get_resolver(), "")
    return found


def test_every_route_has_a_case():
    routes = resolver_routes()
    missing = sorted(set(routes) - set(ROUTES))
    assert not missing, f"routes without an isolation case (add them to ROUTES): {missing}"
    stale = sorted(set(ROUTES) - set(routes))
    assert not stale, f"cases for routes that no longer exist: {stale}"


# Two organizations -----------------------------------------------------------------------------


@dataclass
class World:
    slug: str
    release: Release
    only_b_version: str
    # Another release of its organization's only, whose version holds no marker: forms and
    # errors show a version the request itself sent.
    unmarked_version: str
    commit: Commit
    project: Project
    repository: Repository
    deployment: Deployment
    environment: Environment
    webhook: object
    delivery: object
    token: ApiToken
    incident: object
    shared_project: str = "web"
    shared_env: str = "production"


def populate(org, *, marker: str, sha: str) -> World:
    from incidents.services import incident_create, incident_settings_update
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    now = timezone.now() - timedelta(hours=1)
    commits = [CommitInput(sha=sha, repository=f"{marker}/repo", message=f"{marker} commit", author_name=marker)]
    release, _ = release_create(
        organization=org, version="1.0.0", name=f"{marker} one", projects=["web"], commits=commits
    )
    only, _ = release_create(organization=org, version=f"{marker}-2.0", projects=["web"])
    unmarked, _ = release_create(organization=org, version=f"{org.slug}-3.0", projects=["web"])
    deployment, _ = deployment_record(
        organization=org,
        environment="production",
        release=release,
        project="web",
        title=f"{marker} deploy",
        external_id=f"{marker}-run",
        finished_at=now,
    )
    webhook = WebhookEndpoint.objects.create(
        organization=org, url=f"https://{marker}.example.com/hook", events=["deployment.created"], secret=marker * 2
    )
    delivery = WebhookDelivery.objects.create(
        organization=org, endpoint=webhook, event="deployment.created", payload={"marker": marker}
    )
    token, _ = issue_token(org, name=f"{marker} token", scopes=["read", "write"])
    incident, _ = incident_create(
        organization=org, title=f"{marker} outage", deployment=deployment, external_id=f"{marker}-inc", project="web"
    )
    incident_settings_update(
        organization=org, pagerduty_secret=marker * 2, opsgenie_secret=marker * 3, generic_secret=marker * 4
    )
    return World(
        slug=org.slug,
        release=release,
        only_b_version=only.version,
        unmarked_version=unmarked.version,
        commit=Commit.objects.get(organization=org, sha=sha),
        project=Project.objects.get(organization=org, name="web"),
        repository=Repository.objects.get(organization=org, name=f"{marker}/repo"),
        deployment=deployment,
        environment=Environment.objects.get(organization=org, name="production"),
        webhook=webhook,
        delivery=delivery,
        token=token,
        incident=incident,
    )


@pytest.fixture
def worlds():
    a_org = OrganizationFactory(slug="acme", name="Acme")
    b_org = OrganizationFactory(slug="globex", name=f"{MARKER.title()} Inc")
    a = populate(a_org, marker="acmeonly", sha=A_SHA)
    b = populate(b_org, marker=MARKER, sha=B_SHA)
    alice = UserFactory(username="alice")
    MembershipFactory(user=alice, organization=a_org, role="admin")
    _, clear = issue_token(a_org, name="a-ci", scopes=["read", "write"])
    return a, b, alice, clear


def b_state(b: World) -> str:
    """Everything of B's that a request from A could change."""
    from incidents.models import Incident, IncidentEvent, IncidentSettings
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    rows = {
        "releases": list(Release.objects.filter(organization__slug=b.slug).values().order_by("id")),
        "deployments": list(Deployment.objects.filter(organization__slug=b.slug).values().order_by("id")),
        "environments": list(Environment.objects.filter(organization__slug=b.slug).values().order_by("id")),
        "commits": list(Commit.objects.filter(organization__slug=b.slug).values().order_by("id")),
        "tokens": list(ApiToken.objects.filter(organization__slug=b.slug).values().order_by("id")),
        "webhooks": list(WebhookEndpoint.objects.filter(organization__slug=b.slug).values().order_by("id")),
        "deliveries": list(WebhookDelivery.objects.filter(organization__slug=b.slug).values().order_by("id")),
        "incidents": list(Incident.objects.filter(organization__slug=b.slug).values().order_by("id")),
        "incident_settings": list(IncidentSettings.objects.filter(organization__slug=b.slug).values()),
        "incident_events": list(IncidentEvent.objects.filter(organization__slug=b.slug).values()),
    }
    return json.dumps(rows, default=str, sort_keys=True)


def value_of(world: World, name: str) -> str:
    value = getattr(world, name)
    return str(getattr(value, "public_id", value))


def build_path(route: str, values: dict[str, str]) -> str:
    path = "/" + route + ROUTES[route].query
    for name, value in values.items():
        path = path.replace(f"<{name}>", value)
    assert "<" not in path, f"no value for a parameter of {route}"
    return path.replace(".*", "anything/")


def send(client: Client, method: str, path: str, **headers):
    body = {"status": "failure", "version": "x", "environment": "production"}
    if method in ("GET", "DELETE"):
        return client.generic(method, path, **headers)
    return client.generic(method, path, json.dumps(body), content_type="application/json", **headers)


def assert_no_leak(response, b: World, where: str) -> None:
    text = response.content.decode(errors="replace").lower()
    assert MARKER not in text, f"{where} shows B's data:\n{text[:800]}"
    for obj in (b.release, b.deployment, b.commit, b.webhook, b.token, b.incident):
        # An id A sent in the URL may be echoed in the error ("release not found: <id>").
        if str(obj.public_id) not in where:
            assert str(obj.public_id) not in text, f"{where} shows the id of B's {type(obj).__name__}"


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_organization_a_gets_nothing_of_organization_b(route, worlds):
    a, b, alice, a_token = worlds
    if route not in resolver_routes():
        pytest.skip(f"{route} is not routed (test_every_route_has_a_case reports it)")
    case = ROUTES[route]
    before = b_state(b)
    client = Client()
    headers = {}
    if case.kind == "api":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {a_token}"
    elif case.kind == "page":
        client.force_login(alice)

    names_b = {k: v for k, v in case.kwargs.items() if not v.startswith("shared_")}
    for method in case.methods:
        if names_b:
            # The URL names B's things: refused, and nothing of B's is shown.
            path = build_path(route, {k: value_of(b, v) for k, v in case.kwargs.items()})
            response = send(client, method, path, **headers)
            if response.status_code == 401 and case.kind == "api":
                response = send(client, method, path, HTTP_AUTHORIZATION=a_token)  # Multitudes: bare token
            assert response.status_code in case.refused, f"{method} {path} -> {response.status_code}"
            assert_no_leak(response, b, f"{method} {path}")
            if case.kwargs.get("org_slug") == "slug" and len(names_b) > 1:
                # A's own slug with B's object: still not found.
                values = {k: (a.slug if k == "org_slug" else value_of(b, v)) for k, v in case.kwargs.items()}
                path = build_path(route, values)
                response = send(client, method, path, **headers)
                assert response.status_code in (*case.refused, 404), f"{method} {path} -> {response.status_code}"
                assert_no_leak(response, b, f"{method} {path}")
        if case.kind != "hook" and (not names_b or case.kwargs.get("org_slug") == "slug"):
            # A's own view of the route (A's slug, shared names): answered for A, nothing of B's.
            values = {k: (a.slug if v == "slug" else value_of(a, v)) for k, v in case.kwargs.items()}
            path = build_path(route, values)
            response = send(client, method, path, **headers)
            assert response.status_code < 500, f"{method} {path} -> {response.status_code}"
            assert_no_leak(response, b, f"{method} {path}")
    assert b_state(b) == before, f"{route} changed B's data"


def test_the_admin_is_for_staff_only_and_staff_see_every_organization(worlds, client):
    a, b, alice, _ = worlds
    client.force_login(alice)  # an organization admin, not staff
    response = client.get("/admin/releases/release/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]

    staff = get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get("/admin/releases/release/").content.decode()
    assert MARKER in page and "acmeonly" in page

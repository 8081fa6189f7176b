"""Every list any entry point accepts is counted before anything is done with its items.

For each list field of each entry point (native API, Echoes, Multitudes, Sentry, the GitHub hook),
the test sends 10x, 100x and 1,000x the field's cap, and as many items as fit just under the body
limit: the answer is a 4xx naming the field (or the body limit's 413, which is a 4xx too), and no
row is written. The time the server took, measured in process around the test client's call, is
reported in the terminal summary (never asserted: CI machines are shared); docs/reliability.md
has the figures.

The native API's list fields are read from its OpenAPI schema, so a list added to a request body
later without a row here fails ``test_every_list_in_the_native_api_schema_has_a_size_case``.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client

from deployments.services import MAX_TAGS
from integrations.multitudes import MAX_SHAS
from releases.services import MAX_COMMITS_PER_REQUEST, MAX_PROJECTS, MAX_REFS, release_create
from tests.factories import issue_token
from tests.reliability.conftest import record_server_time
from webhooks.services import MAX_EVENTS, endpoint_create

pytestmark = pytest.mark.django_db

FACTORS = [10, 100, 1000]
GITHUB_SECRET = "size-test-secret"
# Every app whose rows a request could write: none may change after a refused list.
WRITTEN_APPS = ("releases", "deployments", "webhooks")


def sha(index: int) -> str:
    return f"{index:07x}"


def name(index: int) -> str:
    return f"n{index:07x}"


@dataclass(frozen=True)
class ListField:
    """One list of one entry point: where it is sent, its cap, and one item of it."""

    entry: str  # "METHOD path" as shown in reports, with placeholders
    field: str  # the name the refusal must contain
    cap: int
    item: Callable[[int], object]
    body: Callable[[list], dict]  # the whole request body around the list
    kind: str = "native"  # how the request is authenticated: native, echoes, multitudes, sentry, github
    setup: Callable[..., dict] = field(default=lambda org: {})  # objects the path needs, as format arguments

    @property
    def id(self) -> str:
        return f"{self.entry} {self.field}"


def a_release(org) -> dict:
    release, _ = release_create(organization=org, version="1.0.0", projects=["web"], created_by="test")
    return {"release": release.public_id, "version": release.version}


def a_webhook(org) -> dict:
    endpoint = endpoint_create(organization=org, url="https://hooks.example.com/rt", events=["deployment.failed"])
    return {"webhook": endpoint.public_id}


def github_push(commits: list) -> dict:
    return {
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/web", "name": "web", "default_branch": "main"},
        "commits": commits,
    }


CASES = [
    # Native API (its request bodies' arrays are also read from the schema, below)
    ListField("POST /api/v1/releases/", "projects", MAX_PROJECTS, name, lambda v: {"version": "2.0", "projects": v}),
    ListField(
        "POST /api/v1/releases/", "commits", MAX_COMMITS_PER_REQUEST, sha, lambda v: {"version": "2.0", "commits": v}
    ),
    ListField(
        "POST /api/v1/releases/",
        "refs",
        MAX_REFS,
        lambda i: {"repository": "r", "commit": sha(i)},
        lambda v: {"version": "2.0", "refs": v},
    ),
    ListField(
        "PATCH /api/v1/releases/{release}/", "projects", MAX_PROJECTS, name, lambda v: {"projects": v}, setup=a_release
    ),
    ListField(
        "POST /api/v1/releases/{release}/commits/",
        "commits",
        MAX_COMMITS_PER_REQUEST,
        sha,
        lambda v: {"commits": v},
        setup=a_release,
    ),
    ListField(
        "POST /api/v1/releases/{release}/commits/",
        "refs",
        MAX_REFS,
        lambda i: {"repository": "r", "commit": sha(i)},
        lambda v: {"commits": [sha(0)], "refs": v},
        setup=a_release,
    ),
    ListField("POST /api/v1/deployments/", "tags", MAX_TAGS, name, lambda v: {"environment": "prod", "tags": v}),
    ListField(
        "POST /api/v1/deployments/",
        "tags",
        MAX_TAGS,
        name,
        lambda v: {"environment": "prod", "tags": ",".join(v)},
        kind="native (comma-separated)",
    ),
    ListField(
        "POST /api/v1/webhooks/",
        "events",
        MAX_EVENTS,
        lambda i: "deployment.failed",
        lambda v: {"url": "https://hooks.example.com/new", "events": v},
    ),
    ListField(
        "PATCH /api/v1/webhooks/{webhook}/",
        "events",
        MAX_EVENTS,
        lambda i: "deployment.failed",
        lambda v: {"events": v},
        setup=a_webhook,
    ),
    # Echoes
    *[
        ListField(
            f"POST /v1/signals/{what}",
            list_name,
            cap,
            item,
            lambda v, list_name=list_name: (
                {"version": "2.0", "commits": [sha(0)], "deliverables": ["web"]} | {list_name: v}
            ),
            kind="echoes",
        )
        for what in ("releases", "deployments")
        for list_name, cap, item in (("commits", MAX_COMMITS_PER_REQUEST, sha), ("deliverables", MAX_PROJECTS, name))
    ],
    # Multitudes
    ListField(
        "POST /compat/multitudes/deployments",
        "commitSha",
        MAX_SHAS,
        sha,
        lambda v: {"commitSha": v, "environmentName": "production"},
        kind="multitudes",
    ),
    ListField(
        "POST /compat/multitudes/deployments",
        "tags",
        MAX_TAGS,
        name,
        lambda v: {"commitSha": sha(0), "environmentName": "production", "tags": ",".join(v)},
        kind="multitudes",
    ),
    ListField(
        "POST /compat/multitudes/deployments",
        "tags",
        MAX_TAGS,
        name,
        lambda v: {"commitSha": sha(0), "environmentName": "production", "tags": v},
        kind="multitudes (array)",
    ),
    # Sentry
    *[
        ListField(
            entry,
            list_name,
            cap,
            item,
            lambda v, list_name=list_name, entry=entry: ({} if "PUT" in entry else {"version": "2.0"}) | {list_name: v},
            kind="sentry",
            setup=a_release,
        )
        for entry in (
            "POST /api/0/organizations/{org}/releases/",
            "POST /api/0/projects/{org}/web/releases/",
            "PUT /api/0/organizations/{org}/releases/{version}/",
        )
        for list_name, cap, item in (
            ("projects", MAX_PROJECTS, name),
            ("commits", MAX_COMMITS_PER_REQUEST, lambda i: {"id": sha(i)}),
            ("refs", MAX_REFS, lambda i: {"repository": "r", "commit": sha(i)}),
        )
    ],
    ListField(
        "POST /api/0/organizations/{org}/releases/{version}/deploys/",
        "projects",
        MAX_PROJECTS,
        name,
        lambda v: {"environment": "production", "projects": v},
        kind="sentry",
        setup=a_release,
    ),
    # GitHub's push hook
    ListField(
        "POST /hooks/github/{org}/ (push)",
        "commits",
        MAX_COMMITS_PER_REQUEST,
        lambda i: {"id": sha(i)},
        github_push,
        kind="github",
    ),
]


MARKER = "@@LIST@@"


def encode(case: ListField, count: int, limit: int) -> bytes:
    """The request body with ``count`` items. Items differ from one another (the costly case for
    de-duplication) while the body fits the limit; past it, the body is refused on its
    Content-Length before a byte is read, so its items are one item repeated (fast to build)."""
    shell = json.dumps(case.body([MARKER])).encode()
    comma_separated = isinstance(case.body([MARKER])[case.field], str)

    def encoded(index: int) -> bytes:
        item = case.item(index)
        return item.encode() if comma_separated else json.dumps(item).encode()

    if len(shell) + count * (len(encoded(0)) + 1) > limit + 1024:
        items = b",".join([encoded(0)] * count)
    else:
        items = b",".join(encoded(index) for index in range(count))
    placeholder = MARKER.encode() if comma_separated else json.dumps(MARKER).encode()
    return shell.replace(placeholder, items)


def most_under_limit(case: ListField) -> int:
    """The largest item count whose body stays under the body limit (every item of a field
    encodes to the same length)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    one = len(encode(case, 1, limit))
    two = len(encode(case, 2, limit))
    return (limit - 1 - one) // (two - one) + 1


def send(case: ListField, org, clear: str, body: bytes, values: dict):
    method, path, *_ = case.entry.split(" ")
    path = path.format(org=org.slug, **values)
    headers = {"content_type": "application/json"}
    if case.kind.startswith("multitudes"):
        headers["HTTP_AUTHORIZATION"] = clear
    elif case.kind == "github":
        headers["HTTP_X_GITHUB_EVENT"] = "push"
        headers["HTTP_X_GITHUB_DELIVERY"] = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
        headers["HTTP_X_HUB_SIGNATURE_256"] = (
            "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
        )
    else:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {clear}"
    client = Client()
    # A small refused body first, so imports and caches warmed by a first request are not counted.
    warm = {**headers}
    if case.kind == "github":
        warm["HTTP_X_GITHUB_DELIVERY"] = "72d3162e-cc78-11e3-81ab-4c9367dc0000"
        warm["HTTP_X_HUB_SIGNATURE_256"] = (
            "sha256=" + hmac.new(GITHUB_SECRET.encode(), b"[]", hashlib.sha256).hexdigest()
        )
    client.generic(method, path, b"[]", **warm)
    started = time.perf_counter()
    response = client.generic(method, path, body, **headers)
    return response, time.perf_counter() - started


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for app in WRITTEN_APPS
        for model in apps.get_app_config(app).get_models()
    }


@pytest.fixture
def prepared(org):
    org.github_webhook_secret = GITHUB_SECRET
    org.save(update_fields=["github_webhook_secret"])
    _, clear = issue_token(org)
    return org, clear


@pytest.mark.parametrize("factor", [*FACTORS, "most under the body limit"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id + f" [{case.kind}]")
def test_a_list_over_its_cap_is_a_4xx_naming_it_and_stores_nothing(prepared, case, factor, request):
    org, clear = prepared
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    values = case.setup(org)
    count = most_under_limit(case) if factor == "most under the body limit" else case.cap * factor
    body = encode(case, count, limit)
    before = row_counts()

    response, seconds = send(case, org, clear, body, values)

    record_server_time(
        request,
        case=f"{case.entry} {case.field} ({case.kind})",
        factor=factor if isinstance(factor, str) else f"{factor}x cap",
        count=count,
        status=response.status_code,
        size=len(body),
        seconds=seconds,
    )
    text = response.content.decode()
    assert 400 <= response.status_code < 500, text[:500]
    if len(body) > limit:
        assert response.status_code == 413
    else:
        assert response.status_code != 413
        assert case.field in text, text[:500]
    assert row_counts() == before
    if factor == "most under the body limit":
        assert len(body) < limit


def test_every_list_in_the_native_api_schema_has_a_size_case(api):
    """A request body array in the schema without a case above, or whose maxItems is not the
    case's cap, fails here, naming it."""
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]

    def arrays(body: dict) -> dict[str, int | None]:
        body = components[body["$ref"].rsplit("/", 1)[1]] if "$ref" in body else body
        found = {}
        for key, prop in body.get("properties", {}).items():
            for option in [prop, *prop.get("oneOf", [])]:
                if option.get("type") == "array" and not prop.get("readOnly"):
                    found[key] = option.get("maxItems")
        return found

    in_schema = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                for key, max_items in arrays(content["schema"]).items():
                    in_schema[(f"{method.upper()} {path}", key)] = max_items
    covered = {
        (case.entry.replace("{release}", "{id}").replace("{webhook}", "{id}"), case.field): case.cap
        for case in CASES
        if case.kind.startswith("native")
    }
    assert in_schema == covered

"""The layers of the code, kept by a test: dependencies point one way.

core (``releasetracker``: organizations, tokens, API plumbing, the event hook)
  <- ``releases`` <- ``deployments`` <- ``incidents`` <- ``metrics``, ``webhooks``
  <- incoming integrations (``integrations``), the demo data (``demo``) and the operations
  endpoints (``operations``: probes, /metrics, tracing), which nothing imports. Incidents sit
between deployments and metrics: like deployments they are facts recorded as they arrive, and
the metrics' queries read them (change failure rate and recovery time attribute incidents to
deployments), while incidents need nothing of the metrics.

Within an app, the pages and the API (views, viewsets, serializers, filters, admin, management
commands) sit on top: they import what they show, from any app below the top. The domain
modules (models, services, selectors, queries, receivers, ...) import only their own app's
domain modules and the layers under it. URL configurations and settings wire everything
together and are left out. Reads in views, pages and incoming integrations go through
selectors, never ``Model.objects`` directly (the API plumbing aside: releasetracker/api/).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RANK = {
    "releasetracker": 0,
    "releases": 1,
    "deployments": 2,
    "incidents": 2.5,
    "metrics": 3,
    "webhooks": 3,
    "integrations": 4,
    "demo": 4,
    "operations": 4,
}
TOP = 4
PRESENTATION = {"views", "viewsets", "serializers", "filters", "admin", "api", "pages", "page_helpers"}
WIRING = {"urls", "api_urls", "page_urls", "settings", "wsgi", "apps"}


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in RANK:
        folder = ROOT / package
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found.append((".".join(path.relative_to(ROOT).with_suffix("").parts), path))
    return found


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # ``from deployments import selectors`` imports the module deployments.selectors.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def kind(module: str) -> str:
    parts = module.split(".")
    if parts[-1] in WIRING and len(parts) == 2:
        return "wiring"
    if RANK[parts[0]] == TOP:
        return "top"
    if "management" in parts or "templatetags" in parts or parts[-1] in PRESENTATION:
        return "presentation"
    return "domain"


def refusal(module: str, imported: str) -> str | None:
    """Why ``module`` may not import ``imported`` (None when it may)."""
    package, target = module.split(".")[0], imported.split(".")[0]
    if target not in RANK or target == package and kind(module) != "domain":
        return None
    own, other = kind(module), kind(imported) if imported.count(".") else "domain"
    if own == "wiring" or own == "top":
        return None
    if package == "releasetracker":
        return None if target == "releasetracker" else "the core imports no app"
    if RANK[target] == TOP:
        return "nothing but URL configurations imports the top layer"
    if own == "domain" and other == "presentation":
        return "a domain module does not import pages or API views"
    if own == "domain" and target != package and RANK[target] >= RANK[package]:
        return f"{package} sits under {target}"
    return None


def test_dependencies_point_one_way():
    wrong = [
        f"{module} imports {imported}: {reason}"
        for module, path in modules()
        for imported in sorted(imports(path))
        if (reason := refusal(module, imported))
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("module", "imported", "refused"),
    [
        ("releases.services", "deployments.models", True),
        ("releasetracker.services", "releases.models", True),
        ("deployments.services", "webhooks.services", True),
        ("webhooks.services", "metrics.selectors", True),
        ("releases.services", "releases.serializers", True),
        ("deployments.services", "integrations.base", True),
        ("deployments.services", "releases.services", False),
        ("webhooks.receivers", "deployments.models", False),
        ("releases.views", "deployments.selectors", False),
        ("releases.serializers", "deployments.serializers", False),
        ("integrations.echoes", "deployments.services", False),
        ("releasetracker.urls", "integrations.echoes", False),
        ("metrics.queries", "incidents.models", False),
        ("incidents.services", "metrics.selectors", True),
        ("incidents.services", "deployments.models", False),
    ],
)
def test_the_rule_refuses_what_points_the_wrong_way(module, imported, refused):
    assert (refusal(module, imported) is not None) is refused


def test_views_pages_and_integrations_read_through_selectors():
    readers = [
        (module, path)
        for module, path in modules()
        if module.startswith("integrations.") or module.split(".")[-1] in {"views", "viewsets", "pages", "api"}
    ]
    assert readers
    direct = [module for module, path in readers if ".objects." in path.read_text()]
    assert direct == []

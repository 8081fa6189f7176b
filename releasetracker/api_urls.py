"""Routes of the native API under /api/v1/. Each app registers its viewsets on the one router."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from releasetracker.views import ApiIndexView, OrganizationView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# JSON is the only format: no ".json" twin of every route for each request to be matched against.
router.include_format_suffixes = False

# Apps add their viewsets here (kept in one place so the schema lists every route).
from deployments.api import CompareView  # noqa: E402
from deployments.viewsets import register as register_deployments  # noqa: E402
from incidents.viewsets import register as register_incidents  # noqa: E402
from releases.viewsets import register as register_releases  # noqa: E402
from webhooks.viewsets import register as register_webhooks  # noqa: E402

# Django tries the routes in order for every request: the ones CI calls most come first.
register_deployments(router)
register_releases(router)
register_webhooks(router)
register_incidents(router)

# The router's routes sit directly in this list (not under path("", include(...))): one
# resolver level less to walk, and one ResolverMatch less to build, for every API request.
# The index at /api/v1/ lists every resource's route: the router's lists, then the others.
ENDPOINTS = [
    ("organization", "api:organization"),
    *((prefix, f"api:{basename}-list") for prefix, _, basename in router.registry),
    ("compare", "api:compare"),
    ("metrics/dora", "api:metrics-dora"),
]

urlpatterns = [
    *router.urls,
    path("organization/", OrganizationView.as_view(), name="organization"),
    path("compare/", CompareView.as_view(), name="compare"),
    path("metrics/", include("metrics.api_urls")),
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    path("", ApiIndexView.as_view(endpoints=ENDPOINTS), name="index"),
]

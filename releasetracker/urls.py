from django.contrib import admin
from django.urls import include, path

from integrations.aviator import sync_urlpatterns as aviator_sync_urlpatterns
from integrations.incidents import generic_urlpatterns, opsgenie_urlpatterns, pagerduty_urlpatterns
from releasetracker.views import healthz

# Django tries these in order for every request: the API that CI calls comes first.
urlpatterns = [
    # Aviator's two GitHub Actions calls live under the native API's prefix: two exact paths
    # first, so no native route can ever shadow them, while the native API's router, schema and
    # error shape stay its own.
    *aviator_sync_urlpatterns,
    path("api/v1/", include(("releasetracker.api_urls", "api"), namespace="api")),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Vendor-compatible endpoints keep each vendor's own path after the host (DESIGN.md).
    path("v1/signals/", include("integrations.echoes")),
    path("api/releases/", include("integrations.aviator")),
    path("api/0/", include("integrations.sentry.urls")),
    path("compat/iftrue/", include("integrations.iftrue")),
    path("compat/multitudes/", include("integrations.multitudes")),
    path("hooks/github/", include("integrations.github")),
    path("hooks/pagerduty/", include(pagerduty_urlpatterns)),
    path("hooks/opsgenie/", include(opsgenie_urlpatterns)),
    path("hooks/incidents/", include(generic_urlpatterns)),
    path("", include("releasetracker.page_urls")),
]

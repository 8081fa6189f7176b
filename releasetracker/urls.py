from django.contrib import admin
from django.urls import include, path

from releasetracker.views import healthz

# Django tries these in order for every request: the API that CI calls comes first.
urlpatterns = [
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
    path("", include("releasetracker.page_urls")),
]

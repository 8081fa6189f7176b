"""Sentry-compatible release API, mounted at ``/api/0/`` so ``sentry-cli`` works with only its URL and token changed.

What the real client calls is listed in ``sentry-cli.md`` (shared docs); ``docs/compat.md``
says which commands work. Every route translates to the shared release and deployment services.
"""

from django.urls import path, re_path

from releases.compat.sentry import views

# Sentry's clients always send the trailing slash; versions arrive percent-decoded and never
# contain "/" (Sentry refuses such versions), so the plain ``str`` converter is exact.
_org = "organizations/<str:org_slug>/"
_project = "projects/<str:org_slug>/<str:project_slug>/"

urlpatterns = [
    path("", views.index, name="sentry-index"),
    path(f"{_org}repos/", views.repos, name="sentry-repos"),
    path(f"{_org}releases/", views.releases, name="sentry-releases"),
    path(f"{_org}releases/<str:version>/", views.release_detail, name="sentry-release"),
    path(f"{_org}releases/<str:version>/commits/", views.release_commits, name="sentry-release-commits"),
    path(
        f"{_org}releases/<str:version>/previous-with-commits/",
        views.previous_with_commits,
        name="sentry-release-previous",
    ),
    path(f"{_org}releases/<str:version>/deploys/", views.release_deploys, name="sentry-release-deploys"),
    path(f"{_project}releases/", views.releases, name="sentry-project-releases"),
    path(f"{_project}releases/<str:version>/", views.release_detail, name="sentry-project-release"),
    path(f"{_project}releases/<str:version>/commits/", views.release_commits, name="sentry-project-release-commits"),
    path(
        f"{_project}releases/<str:version>/previous-with-commits/",
        views.previous_with_commits,
        name="sentry-project-release-previous",
    ),
    path(f"{_project}releases/<str:version>/deploys/", views.release_deploys, name="sentry-project-release-deploys"),
    # Anything else under /api/0/ is Sentry's JSON 404, never an HTML page.
    re_path(r"^.*$", views.unknown_route, name="sentry-unknown"),
]

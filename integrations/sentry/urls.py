"""Sentry's routes, mounted at ``/api/0/`` so ``sentry-cli`` works with only its URL and token changed.

What the real client calls is listed in ``sentry-cli.md`` (shared docs); ``docs/compat.md``
says which commands work. 2.x calls the project routes when one project is configured, 3.x the
organization routes: both are served.
"""

from django.urls import path

from integrations.sentry import views
from integrations.sentry.base import SentryView

# Sentry's clients always send the trailing slash; versions arrive percent-decoded and never
# contain "/" (Sentry refuses such versions), so the plain ``str`` converter is exact.
_org = "organizations/<str:org_slug>/"
_project = "projects/<str:org_slug>/<str:project_slug>/"

urlpatterns = [path("", views.Index.as_view(), name="sentry-index")]
urlpatterns += [path(f"{_org}repos/", views.Repositories.as_view(), name="sentry-repos")]
# Artifact uploads and lists: refused with a message (see views.Artifacts). chunk-upload/ is the
# first call of every upload command of 2.x and 3.x; the others are 2.x's fallbacks and lists.
urlpatterns += [
    path(f"{_org}chunk-upload/", views.Artifacts.as_view(), name="sentry-chunk-upload"),
    path(f"{_org}artifactbundle/assemble/", views.Artifacts.as_view(), name="sentry-artifact-bundle"),
    path(f"{_org}releases/<str:version>/assemble/", views.Artifacts.as_view(), name="sentry-release-bundle"),
    path(f"{_project}files/<path:rest>", views.Artifacts.as_view(), name="sentry-project-files"),
]
for prefix, name in ((_org, "sentry"), (_project, "sentry-project")):
    urlpatterns += [
        path(f"{prefix}releases/", views.Releases.as_view(), name=f"{name}-releases"),
        path(f"{prefix}releases/<str:version>/", views.ReleaseDetail.as_view(), name=f"{name}-release"),
        path(
            f"{prefix}releases/<str:version>/commits/", views.ReleaseCommits.as_view(), name=f"{name}-release-commits"
        ),
        path(
            f"{prefix}releases/<str:version>/previous-with-commits/",
            views.PreviousWithCommits.as_view(),
            name=f"{name}-release-previous",
        ),
        path(f"{prefix}releases/<str:version>/deploys/", views.Deploys.as_view(), name=f"{name}-release-deploys"),
        path(f"{prefix}releases/<str:version>/files/", views.Artifacts.as_view(), name=f"{name}-release-files"),
        path(
            f"{prefix}releases/<str:version>/files/<str:file_id>/",
            views.Artifacts.as_view(),
            name=f"{name}-release-file",
        ),
    ]
# Anything else under /api/0/ is Sentry's JSON 404, never an HTML page.
urlpatterns += [SentryView.unknown_paths("sentry-unknown")]

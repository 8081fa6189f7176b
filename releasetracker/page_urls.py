"""Server-rendered pages: sign-in, the organization list, and each organization's pages.

Every organization page is under /orgs/<slug>/ and resolves the slug through the user's
memberships (``releasetracker.pages.org_page``): another organization's slug is a 404.
"""

from django.contrib.auth.views import LogoutView
from django.urls import include, path

from deployments import views as deployment_views
from incidents import views as incident_views
from metrics import views as metric_views
from releases import views as release_views
from releasetracker import pages
from webhooks import views as webhook_views

releases_urls = (
    [
        path("", release_views.timeline, name="timeline"),
        path("<str:key>/", release_views.release_detail, name="detail"),
    ],
    "releases",
)
deployments_urls = ([path("", deployment_views.deployments, name="list")], "deployments")
incidents_urls = ([path("", incident_views.incidents, name="list")], "incidents")
environments_urls = ([path("", deployment_views.environments, name="live")], "environments")
metrics_urls = ([path("", metric_views.metrics, name="dashboard")], "metrics")
compare_urls = ([path("", release_views.compare, name="compare")], "compare")
orgs_urls = (
    [
        path("", pages.org_home, name="home"),
        path("settings/", pages.organization_settings, name="settings"),
        path("settings/tokens/", pages.tokens, name="tokens"),
        path("settings/tokens/<uuid:public_id>/revoke/", pages.token_revoke_view, name="token-revoke"),
        path("settings/tokens/<uuid:public_id>/regenerate/", pages.token_regenerate_view, name="token-regenerate"),
        path("settings/incidents/", incident_views.incident_settings, name="incident-settings"),
        path("settings/webhooks/", webhook_views.webhooks, name="webhooks"),
        path("settings/webhooks/<uuid:public_id>/toggle/", webhook_views.webhook_toggle, name="webhook-toggle"),
        path("settings/webhooks/<uuid:public_id>/delete/", webhook_views.webhook_delete, name="webhook-delete"),
        path("settings/webhooks/<uuid:public_id>/test/", webhook_views.webhook_test, name="webhook-test"),
        path(
            "settings/webhooks/<uuid:public_id>/deliveries/<uuid:delivery_id>/redeliver/",
            webhook_views.delivery_redeliver,
            name="webhook-redeliver",
        ),
    ],
    "orgs",
)

urlpatterns = [
    path("", pages.home, name="home"),
    path("accounts/login/", pages.ThrottledLoginView.as_view(), name="login"),
    # Django's LogoutView accepts POST only (a link could log people out from another site).
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("orgs/<slug:org_slug>/releases/", include(releases_urls)),
    path("orgs/<slug:org_slug>/deployments/", include(deployments_urls)),
    path("orgs/<slug:org_slug>/incidents/", include(incidents_urls)),
    path("orgs/<slug:org_slug>/environments/", include(environments_urls)),
    path("orgs/<slug:org_slug>/metrics/", include(metrics_urls)),
    path("orgs/<slug:org_slug>/compare/", include(compare_urls)),
    path("orgs/<slug:org_slug>/", include(orgs_urls)),
]

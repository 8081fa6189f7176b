"""The admin for ops staff: every model listed, query counts flat, writes through the services."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client

from deployments.models import Deployment, DeploymentStatus, Environment
from releases.models import Release, Source
from tests.factories import UserFactory
from tests.pages.conftest import T0, deploy, make_release

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db) -> Client:
    user = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_every_release_and_deployment_model_is_registered():
    for app in ("releases", "deployments"):
        for model in apps.get_app_config(app).get_models():
            assert admin.site.is_registered(model), f"{model.__name__} is not in the admin"


def changelists() -> list[str]:
    return [
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for app in ("releases", "deployments")
        for model in apps.get_app_config(app).get_models()
    ]


@pytest.mark.parametrize("count", [3, 30])
def test_admin_lists_and_forms_load_with_a_flat_query_count(
    staff_client, org, history, django_assert_max_num_queries, count
):
    for i in range(count):
        release = make_release(org, f"10.{i}.0", at=T0, projects=("api", "web"), commits=3)
        deploy(org, release, "production", at=T0)
    for url in changelists():
        with django_assert_max_num_queries(14):
            response = staff_client.get(url)
        assert response.status_code == 200, url
    release = Release.objects.get(version="10.0.0")
    deployment = release.deployments.first()
    for url in (
        f"/admin/releases/release/{release.pk}/change/",
        f"/admin/deployments/deployment/{deployment.pk}/change/",
        "/admin/releases/release/add/",
        "/admin/deployments/deployment/add/",
        "/admin/deployments/environment/add/",
    ):
        assert staff_client.get(url).status_code == 200, url


def test_admin_search_and_filters_work(staff_client, history):
    assert b"1.1.0" in staff_client.get("/admin/releases/release/?q=1.1").content
    response = staff_client.get("/admin/deployments/deployment/?status__exact=failure")
    assert response.status_code == 200 and b"1.1.0" in response.content


def test_mark_failed_action_goes_through_the_service_and_keeps_history(staff_client, org, history):
    live = Deployment.objects.get(release=history["r1"], environment__name="staging")
    response = staff_client.post(
        "/admin/deployments/deployment/",
        {"action": "mark_failed", "_selected_action": [live.pk]},
        follow=True,
    )
    assert b"Marked 1 deployment(s) failed." in response.content
    live.refresh_from_db()
    assert live.status == DeploymentStatus.FAILURE
    assert [c.status for c in live.status_changes.all()] == [DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE]


def test_adding_a_release_in_the_admin_calls_the_service(staff_client, org):
    response = staff_client.post(
        "/admin/releases/release/add/",
        {
            "organization": org.pk,
            "version": "11.0.0",
            "name": "Eleven",
            "status": "pending",
            "projects_text": "api, web",
            "ref": "",
            "url": "",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    release = Release.objects.get(organization=org, version="11.0.0")
    assert release.source == Source.ADMIN and release.created_by == "admin ops"
    assert sorted(p.name for p in release.projects.all()) == ["api", "web"]


def test_changing_a_deployment_status_in_the_admin_records_it_in_the_history(staff_client, org, history):
    deployment = Deployment.objects.get(release=history["r3"])
    response = staff_client.post(
        f"/admin/deployments/deployment/{deployment.pk}/change/",
        {
            "status": "success",
            "title": "fixed by hand",
            "changelog": "",
            "url": "",
            "branch": "",
            "triggered_by": "",
            "member": "",
            "repository_url": "",
            **_empty_inlines(prefix="status_changes"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.SUCCESS and deployment.title == "fixed by hand"
    assert deployment.finished_at is not None
    assert [c.status for c in deployment.status_changes.all()][-1] == DeploymentStatus.SUCCESS


def test_a_refused_admin_save_says_why_and_stores_nothing(staff_client, org):
    Environment.objects.create(organization=org, name="production", is_production=True)
    staging = Environment.objects.create(organization=org, name="staging")
    response = staff_client.post(
        f"/admin/deployments/environment/{staging.pk}/change/",
        {"name": "production", "is_production": "on"},
        follow=True,
    )
    assert "an environment named" in response.content.decode()
    staging.refresh_from_db()
    assert staging.name == "staging" and not staging.is_production


def _empty_inlines(prefix: str | None = None) -> dict:
    prefixes = [prefix] if prefix else ["refs", "release_commits", "deployments"]
    data = {}
    for name in prefixes:
        data.update({f"{name}-TOTAL_FORMS": "0", f"{name}-INITIAL_FORMS": "0", f"{name}-MAX_NUM_FORMS": "0"})
    return data


@pytest.mark.parametrize("count", [3, 40])
def test_a_release_change_form_with_its_inlines_has_a_flat_query_count(
    staff_client, org, django_assert_max_num_queries, count
):
    release = make_release(org, "12.0.0", at=T0, commits=count)
    for i in range(count):
        deploy(org, release, "production" if i % 2 else "staging", at=T0)
    with django_assert_max_num_queries(16):
        response = staff_client.get(f"/admin/releases/release/{release.pk}/change/")
    assert response.status_code == 200
    assert response.content.decode().count("Change 0 of 12.0.0") == 1


def test_recording_a_deployment_in_the_admin_calls_the_service(staff_client, org, history):
    response = staff_client.post(
        "/admin/deployments/deployment/add/",
        {
            "organization": org.pk,
            "environment_name": "production",
            "release_version": "1.2.0",
            "commit_sha": "",
            "project_name": "",
            "status": "success",
            "title": "manual deploy",
            "url": "",
            **_empty_inlines(prefix="status_changes"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    deployment = Deployment.objects.get(title="manual deploy")
    assert deployment.release == history["r3"] and deployment.environment.name == "production"
    assert deployment.source == Source.ADMIN and deployment.created_by == "admin ops"
    assert deployment.finished_at is not None  # set by the service for a final status
    assert [c.status for c in deployment.status_changes.all()] == [DeploymentStatus.SUCCESS]


def test_an_admin_deployment_for_an_unknown_release_is_refused_with_the_reason(staff_client, org):
    response = staff_client.post(
        "/admin/deployments/deployment/add/",
        {
            "organization": org.pk,
            "environment_name": "production",
            "release_version": "0.0.404",
            "status": "success",
            **_empty_inlines(prefix="status_changes"),
        },
        follow=True,
    )
    assert "no release with version" in response.content.decode()
    assert not Deployment.objects.exists()


def test_archive_and_restore_actions_go_through_the_service(staff_client, org, history):
    release = history["r1"]

    archived = staff_client.post(
        "/admin/releases/release/", {"action": "archive", "_selected_action": [release.pk]}, follow=True
    )
    assert b"Archived 1 release(s)." in archived.content
    release.refresh_from_db()
    assert release.archived_at is not None

    staff_client.post("/admin/releases/release/", {"action": "restore", "_selected_action": [release.pk]})
    release.refresh_from_db()
    assert release.archived_at is None


# Rows only the services write: a superuser may read them, not add or edit them (nor delete the
# status history or the first deployments, which the services keep exact).
READ_ONLY = {
    "releases.commit": False,
    "releases.releasecommit": False,
    "releases.releaseproject": False,
    "deployments.deploymentstatuschange": True,
    "deployments.firstdeployment": True,
}


@pytest.mark.parametrize("label", list(READ_ONLY))
def test_rows_only_the_services_write_are_read_only_in_the_admin(staff_client, org, history, label):
    release = make_release(org, "11.0.0", at=T0, projects=("api",), commits=2)
    deploy(org, release, "production", at=T0)
    model = apps.get_model(label)
    row = model.objects.filter(organization=org).first()
    assert row is not None, label
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"

    assert staff_client.get(base).status_code == 200
    assert staff_client.get(f"{base}{row.pk}/change/").status_code == 200  # the view page
    assert staff_client.get(f"{base}add/").status_code == 403
    assert staff_client.post(f"{base}{row.pk}/change/", {}).status_code == 403
    deleted = staff_client.post(f"{base}{row.pk}/delete/", {"post": "yes"})
    if READ_ONLY[label]:
        assert deleted.status_code == 403
        assert model.objects.filter(pk=row.pk).exists()

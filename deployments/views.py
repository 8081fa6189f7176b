"""The deployments page: what is live in each environment now, then the history, filterable."""

from django import forms
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from deployments.models import Deployment, DeploymentStatus
from deployments.selectors import (
    deployment_list,
    environment_list,
    environment_live_environments,
    environment_live_matrix,
    environment_live_projects,
)
from deployments.serializers import DeploymentRowSerializer
from incidents.selectors import incidents_of_deployments
from metrics.selectors import deployment_recoveries, failed_change_ids
from releases.selectors import project_list
from releasetracker.exports import serializer_csv_response, wants_csv
from releasetracker.page_helpers import (
    DateRangeMixin,
    MetricsLinkMixin,
    OrgFilterForm,
    paginate,
    query_without,
)
from releasetracker.pages import org_page, page_context


class DeploymentFilterForm(MetricsLinkMixin, DateRangeMixin, OrgFilterForm):
    field_order = ["environment", "is_production", "project", "status", "failed_change", "rework", "since", "until"]
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *DeploymentStatus.choices])
    failed_change = forms.ChoiceField(
        required=False, label="Failed change", choices=[("", "Any"), ("1", "Failed changes only")]
    )
    # The metrics' rework: successful deployments flagged is_fix or is_hotfix.
    rework = forms.ChoiceField(required=False, label="Rework", choices=[("", "Any"), ("1", "Fixes and hotfixes")])


def live_now(queryset) -> list[Deployment]:
    """The latest successful deployment per environment and project: "which version is where now".

    One query with a window function, whatever the history's length.
    """
    ranked = (
        queryset.filter(status=DeploymentStatus.SUCCESS)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("environment_id"), F("project_id")],
                order_by=[F("occurred_at").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .order_by("-environment__is_production", "environment__name", "project__name")
    )
    # The history's status_changes prefetch is not needed for this summary.
    return list(ranked.prefetch_related(None))


def with_recoveries(org, rows: list[Deployment]) -> list[Deployment]:
    """``rows``, each failed change with ``recovery`` (what restored it and when) for the template."""
    recoveries = deployment_recoveries(organization=org, deployments=rows)
    for deployment in rows:
        deployment.recovery = recoveries.get(deployment.pk)
    return rows


@org_page
def deployments(request: HttpRequest) -> HttpResponse:
    org = request.org
    environments = list(environment_list(organization=org))
    projects = list(project_list(organization=org).values_list("name", flat=True))
    form = DeploymentFilterForm(request.GET, projects=projects, environments=[env.name for env in environments])
    filters = form.filters()
    queryset = deployment_list(organization=org).prefetch_related(None)
    if "environment" in filters:
        queryset = queryset.filter(environment__name=filters["environment"])
    if "project" in filters:
        queryset = queryset.filter(project__name=filters["project"])
    if "is_production" in filters:
        queryset = queryset.filter(environment__is_production=True)
    now = live_now(queryset)
    if "status" in filters:
        queryset = queryset.filter(status=filters["status"])
    since, until = form.bounds()
    if since is not None:
        queryset = queryset.filter(occurred_at__gte=since)
    if until is not None:
        queryset = queryset.filter(occurred_at__lt=until)
    if "failed_change" in filters:
        queryset = queryset.filter(pk__in=failed_change_ids(organization=org, since=since, until=until))
    if "rework" in filters:
        queryset = queryset.filter(Q(is_fix=True) | Q(is_hotfix=True), status=DeploymentStatus.SUCCESS)
    if wants_csv(request) and not form.errors:
        return serializer_csv_response(
            queryset.order_by("-occurred_at", "-id"), DeploymentRowSerializer, filename="deployments.csv"
        )
    page, per_page = paginate(request, queryset.order_by("-occurred_at", "-id"))
    page.object_list = with_recoveries(org, list(page.object_list))
    # The incidents linked to the deployments shown, in one query for the page.
    linked = incidents_of_deployments(organization=org, deployment_ids=[d.pk for d in page.object_list])
    for deployment in page.object_list:
        deployment.linked_incidents = linked.get(deployment.pk, [])
    live_by_env: dict[str, dict] = {}
    for deployment in now:
        live_by_env.setdefault(deployment.environment.name, {"environment": deployment.environment, "deployments": []})[
            "deployments"
        ].append(deployment)
    context = page_context(
        request,
        form=form,
        filtered=bool(filters),
        live=list(live_by_env.values()),
        page=page,
        per_page=per_page,
        page_query=query_without(request, "page"),
        csv_query=query_without(request, "page", "per_page", "format"),
        dates_in_utc=form.days_tz() is not None,
        nav="deployments",
    )
    return render(request, "deployments/list.html", context, status=400 if form.errors else 200)


class LiveFilterForm(OrgFilterForm):
    """The matrix's filters: a project, an environment."""


@org_page
def environments(request: HttpRequest) -> HttpResponse:
    """What is live where: projects × environments, each cell the live release and how far behind."""
    org = request.org
    all_environments = list(environment_live_environments(organization=org))
    projects = environment_live_projects(organization=org, environments=all_environments)
    names = list(project_list(organization=org).values_list("name", flat=True))
    form = LiveFilterForm(request.GET, projects=names, environments=[env.name for env in all_environments])
    filters = form.filters()
    shown = [env for env in all_environments if filters.get("environment", env.name) == env.name]
    if "project" in filters:
        projects = projects.filter(name=filters["project"])
    page, per_page = paginate(request, projects, default=50)
    unassigned = "project" not in filters and any(env.live_unassigned for env in all_environments)
    rows = environment_live_matrix(
        organization=org,
        projects=list(page.object_list),
        environments=all_environments,
        include_unassigned=unassigned and not page.has_next(),
    )
    wanted = {env.pk for env in shown}
    for row in rows:
        row.cells[:] = [cell for cell in row.cells if cell.environment.pk in wanted]
    context = page_context(
        request,
        form=form,
        filtered=bool(filters),
        environments=shown,
        rows=rows,
        page=page,
        per_page=per_page,
        page_query=query_without(request, "page"),
        nav="environments",
    )
    return render(request, "deployments/environments.html", context, status=400 if form.errors else 200)

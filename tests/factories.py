"""Factories for every model. Related objects stay in one organization; tokens go through the service."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatus, DeploymentStatusChange, Environment
from deployments.outcomes import outcomes_refresh_deployment
from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject, Repository
from releasetracker.models import Membership, Organization
from releasetracker.services import token_issue


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("password")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.VIEWER


def issue_token(organization, *, scopes=("read", "write"), name="ci", **kwargs):
    """A token through the issuing service; returns (ApiToken, clear value)."""
    issued = token_issue(organization=organization, name=name, scopes=list(scopes), **kwargs)
    return issued.token, issued.clear


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("organization", "name")

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"project{n}")


class RepositoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Repository
        django_get_or_create = ("organization", "name")

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"acme/repo{n}")
    url = factory.LazyAttribute(lambda o: f"https://github.com/{o.name}")


class CommitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Commit

    organization = factory.SubFactory(OrganizationFactory)
    sha = factory.Sequence(lambda n: f"{n:040x}")
    message = factory.Sequence(lambda n: f"Change number {n}")
    author_name = "Alice"
    author_email = "alice@example.com"
    timestamp = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))


class ReleaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Release

    organization = factory.SubFactory(OrganizationFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")


class ReleaseProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReleaseProject

    release = factory.SubFactory(ReleaseFactory)
    organization = factory.SelfAttribute("release.organization")
    project = factory.SubFactory(ProjectFactory, organization=factory.SelfAttribute("..organization"))


class ReleaseCommitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReleaseCommit

    release = factory.SubFactory(ReleaseFactory)
    organization = factory.SelfAttribute("release.organization")
    commit = factory.SubFactory(CommitFactory, organization=factory.SelfAttribute("..organization"))


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment
        django_get_or_create = ("organization", "name")

    organization = factory.SubFactory(OrganizationFactory)
    name = "production"
    is_production = factory.LazyAttribute(lambda o: o.name in ("production", "prod"))


class DeploymentFactory(factory.django.DjangoModelFactory):
    """A raw deployment row. Tests of rules use ``deployment_record``; this is for reads. Its
    stream's stored outcomes are kept, as the services keep them."""

    class Meta:
        model = Deployment
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    environment = factory.SubFactory(EnvironmentFactory, organization=factory.SelfAttribute("..organization"))
    release = factory.SubFactory(ReleaseFactory, organization=factory.SelfAttribute("..organization"))
    status = DeploymentStatus.SUCCESS
    finished_at = factory.LazyFunction(timezone.now)
    occurred_at = factory.LazyAttribute(lambda o: o.finished_at or timezone.now())

    @factory.post_generation
    def outcomes(self, create, extracted, **kwargs):
        if create:
            outcomes_refresh_deployment(self)


class DeploymentStatusChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeploymentStatusChange

    deployment = factory.SubFactory(DeploymentFactory)
    organization = factory.SelfAttribute("deployment.organization")
    status = factory.SelfAttribute("deployment.status")
    at = factory.LazyFunction(timezone.now)

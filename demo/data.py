"""Demo data for `make run`: an organization with a few months of realistic history.

Everything is written through the same services the API uses. It is created once: a second
run finds the organization's releases and leaves them alone.
"""

import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from deployments.models import DeploymentStatus
from deployments.services import deployment_change_status, deployment_record, environment_get_or_create
from releases.models import Release, Source
from releases.services import CommitInput, release_create, repository_get_or_create
from releasetracker.models import ApiToken, Membership, Organization
from releasetracker.services import membership_set, token_hash

DEMO_SLUG = "demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - development-only account, refused when DEBUG is off
# A fixed, well-known token so `make run` can print it on every start. Development only.
DEMO_TOKEN = "rt_demo_development_only_token_do_not_use_in_production"  # noqa: S105

PROJECTS = {"api": "acme/api", "web": "acme/web", "worker": "acme/worker"}
AUTHORS = [
    ("Alice Martin", "alice@example.com"),
    ("Bob Chen", "bob@example.com"),
    ("Chidi Okafor", "chidi@example.com"),
    ("Dana Ruiz", "dana@example.com"),
    ("Émilie Dubois", "emilie@example.com"),
]
VERBS = ["Fix", "Add", "Refactor", "Speed up", "Document", "Remove", "Harden", "Upgrade"]
THINGS = [
    "login redirect",
    "release timeline query",
    "CSV export",
    "retry on 502 from upstream",
    "cache headers",
    "search by version",
    "billing webhook",
    "dark mode colours",
    "rate limiter",
    "health check",
]


@dataclass
class DemoResult:
    organization: Organization
    releases: int
    deployments: int


def _ensure_user_and_token(org: Organization) -> None:
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True, "email": "demo@example.com"}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    membership_set(organization=org, user=user, role=Membership.Role.ADMIN)
    ApiToken.objects.get_or_create(
        token_hash=token_hash(DEMO_TOKEN),
        defaults={
            "organization": org,
            "name": "demo (make run)",
            "scopes": ["read", "write"],
            "prefix": DEMO_TOKEN[:11],
            "created_by": user,
        },
    )


def _sha(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(40))


@transaction.atomic
def seed_demo(*, days: int = 120, seed: int = 7) -> DemoResult:
    org, _ = Organization.objects.get_or_create(slug=DEMO_SLUG, defaults={"name": "Demo Corp"})
    _ensure_user_and_token(org)
    existing = Release.objects.for_organization(org).count()
    if existing:
        from deployments.models import Deployment

        return DemoResult(org, existing, Deployment.objects.for_organization(org).count())

    rng = random.Random(seed)
    environment_get_or_create(organization=org, name="staging")
    environment_get_or_create(organization=org, name="production")
    for repo in PROJECTS.values():
        repository_get_or_create(organization=org, name=repo, url=f"https://github.com/{repo}", provider="github")

    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=days)
    releases = deployments = 0
    versions = {name: [1, 0, 0] for name in PROJECTS}
    live: dict[str, list[str]] = {name: [] for name in PROJECTS}
    day = start
    while day < now - timedelta(hours=6):
        for project, repo in PROJECTS.items():
            if rng.random() > {"api": 0.45, "web": 0.35, "worker": 0.2}[project]:
                continue
            at = day + timedelta(hours=rng.randint(8, 17), minutes=rng.randint(0, 59))
            if at > now - timedelta(hours=2):
                continue
            major, minor, patch = versions[project]
            minor, patch = (minor + 1, 0) if rng.random() < 0.7 else (minor, patch + 1)
            versions[project] = [major, minor, patch]
            version = f"{project}@{major}.{minor}.{patch}"
            commits = []
            for _ in range(rng.randint(1, 8)):
                author = rng.choice(AUTHORS)
                commits.append(
                    CommitInput(
                        sha=_sha(rng),
                        repository=repo,
                        message=f"{rng.choice(VERBS)} {rng.choice(THINGS)}",
                        author_name=author[0],
                        author_email=author[1],
                        timestamp=at - timedelta(hours=rng.uniform(1, 96)),
                        pr_number=rng.randint(100, 999),
                    )
                )
            release, _ = release_create(
                organization=org,
                version=version,
                projects=[project],
                commits=commits,
                name=f"{project} {major}.{minor}.{patch}",
                date_released=at,
                source=Source.DEMO,
                created_by="demo data",
            )
            # The timeline groups releases by when they were created: back-date them like the history.
            Release.objects.filter(pk=release.pk).update(created_at=at)
            releases += 1
            staging_at = at + timedelta(minutes=rng.randint(5, 40))
            deployment_record(
                organization=org,
                environment="staging",
                release=release,
                status=DeploymentStatus.SUCCESS,
                started_at=staging_at - timedelta(minutes=rng.randint(2, 9)),
                finished_at=staging_at,
                triggered_by="github-actions",
                source=Source.DEMO,
            )
            deployments += 1
            prod_at = staging_at + timedelta(hours=rng.uniform(0.5, 20))
            if prod_at > now:
                continue
            failed = rng.random() < 0.12
            # Reported as CI does: started (in progress), then finished, so the history has both steps.
            production, _ = deployment_record(
                organization=org,
                environment="production",
                release=release,
                status=DeploymentStatus.IN_PROGRESS,
                started_at=prod_at - timedelta(minutes=rng.randint(3, 15)),
                triggered_by="github-actions",
                source=Source.DEMO,
            )
            deployment_change_status(
                organization=org,
                deployment=production,
                status=DeploymentStatus.FAILURE if failed else DeploymentStatus.SUCCESS,
                at=prod_at,
            )
            deployments += 1
            if failed and live[project]:
                # Roll back to what was live, then ship a hotfix a few hours later.
                back_at = prod_at + timedelta(minutes=rng.randint(10, 50))
                if back_at < now:
                    deployment_record(
                        organization=org,
                        environment="production",
                        release=live[project][-1],
                        status=DeploymentStatus.SUCCESS,
                        finished_at=back_at,
                        triggered_by="on-call",
                        source=Source.DEMO,
                    )
                    deployments += 1
                continue
            if not failed:
                live[project].append(version)
                if rng.random() < 0.1:
                    fix_at = prod_at + timedelta(hours=rng.uniform(1, 6))
                    if fix_at < now:
                        patch += 1
                        versions[project] = [major, minor, patch]
                        hotfix, _ = release_create(
                            organization=org,
                            version=f"{project}@{major}.{minor}.{patch}",
                            projects=[project],
                            commits=[
                                CommitInput(
                                    sha=_sha(rng),
                                    repository=repo,
                                    message="Hotfix: revert bad query",
                                    author_name=AUTHORS[0][0],
                                    author_email=AUTHORS[0][1],
                                    timestamp=fix_at - timedelta(minutes=30),
                                )
                            ],
                            date_released=fix_at,
                            source=Source.DEMO,
                            created_by="demo data",
                        )
                        Release.objects.filter(pk=hotfix.pk).update(created_at=fix_at - timedelta(minutes=20))
                        releases += 1
                        deployment_record(
                            organization=org,
                            environment="production",
                            release=hotfix,
                            status=DeploymentStatus.SUCCESS,
                            finished_at=fix_at,
                            is_hotfix=True,
                            triggered_by="on-call",
                            source=Source.DEMO,
                        )
                        deployments += 1
                        live[project].append(hotfix.version)
        day += timedelta(days=1)
    return DemoResult(org, releases, deployments)

"""A release history with known commits, for the compare's API, page and browser tests.

Project web: 1.0.0 (commits 1, 2) → 1.1.0 (2 again, 3, 4 with PR 41) → 1.2.0 (4 again, 5) →
1.3.0 (6, and 1 again). Project api: api-1.0 (commit 9), recorded between 1.1.0 and 1.2.0.
Live: 1.0.0 in production, 1.2.0 in staging (1.3.0 failed there). So 1.2.0 brings 3, 4 and 5
over 1.0.0, commit 4 came in 1.1.0 and 1.2.0, and 1.3.0 brings 6 but not 1.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from deployments.services import deployment_record
from releases.models import Release
from releases.services import CommitInput, release_create, repository_get_or_create

T0 = (timezone.now() - timedelta(days=30)).replace(microsecond=0)
AUTHORS = {1: "Alice Martin", 2: "Bob Stone", 3: "Chen Wei", 4: "Dana Kaur", 5: "Eve Lind", 6: "Femi Ade", 9: "Gus Api"}


def sha(n: int) -> str:
    return f"{n:x}" * 40 if n < 16 else f"{n:040x}"


@dataclass
class History:
    releases: dict[str, Release]


def commit(n: int, *, repository: str = "acme/web") -> CommitInput:
    return CommitInput(
        sha=sha(n),
        repository=repository,
        message=f"Change {n}\n\nthe details",
        author_name=AUTHORS[n],
        author_email=f"author{n}@example.com",
        timestamp=T0 + timedelta(hours=n),
        pr_number=40 + n if n in (4, 5) else None,
    )


def build(org) -> History:
    repository_get_or_create(organization=org, name="acme/web", url="https://github.com/acme/web")
    plan = [
        ("1.0.0", "web", [1, 2], 0),
        ("1.1.0", "web", [2, 3, 4], 24),
        ("api-1.0", "api", [9], 36),
        ("1.2.0", "web", [4, 5], 48),
        ("1.3.0", "web", [6, 1], 72),
    ]
    releases = {}
    for version, project, numbers, hours in plan:
        releases[version], _ = release_create(
            organization=org,
            version=version,
            projects=[project],
            commits=[commit(n, repository="acme/api" if project == "api" else "acme/web") for n in numbers],
            created_at=T0 + timedelta(hours=hours),
        )
    live = [
        ("1.0.0", "production", "success", 2),
        ("1.1.0", "staging", "success", 25),
        ("1.2.0", "staging", "success", 50),
        ("1.3.0", "staging", "failure", 74),
    ]
    for version, environment, status, hours in live:
        deployment_record(
            organization=org,
            environment=environment,
            release=releases[version],
            project="web",
            status=status,
            finished_at=T0 + timedelta(hours=hours),
        )
    return History(releases=releases)

"""What deployments do when another app's write concerns them (the core event hook)."""

from deployments.services import deployment_shas_complete


def commit_sha_completed(sender, *, organization, short_sha: str, sha: str, **kwargs) -> None:
    deployment_shas_complete(organization=organization, short_sha=short_sha, sha=sha)

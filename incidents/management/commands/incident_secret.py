from django.core.management.base import BaseCommand, CommandError

from incidents.selectors import SECRET_FIELDS
from incidents.services import incident_secret_ensure
from releasetracker.selectors import organization_get


class Command(BaseCommand):
    help = (
        "Make the organization's secret for an incoming incident hook (opsgenie or generic; pagerduty "
        "only with --rotate, as PagerDuty makes its own) and print it; an existing secret is printed "
        "only when --rotate replaces it."
    )

    def add_arguments(self, parser):
        parser.add_argument("org_slug", metavar="ORG_SLUG")
        parser.add_argument("source", choices=sorted(SECRET_FIELDS))
        parser.add_argument("--rotate", action="store_true", help="replace the secret with a new one")

    def handle(self, *args, org_slug: str, source: str, rotate: bool, **options):
        org = organization_get(slug=org_slug)
        if org is None:
            raise CommandError(f"no organization with slug '{org_slug}'")
        secret, created = incident_secret_ensure(organization=org, source=source, rotate=rotate)
        if not created:
            # A secret is printed once, when it is made, as the settings page shows it once.
            self.stderr.write(f"The {source} hook secret of {org.slug} exists; use --rotate to replace it.")
            return
        self.stderr.write(f"Created a new {source} hook secret for {org.slug}.")
        # Only the secret on stdout, so `$(manage.py incident_secret acme generic)` captures it.
        self.stdout.write(secret)

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.data import DEMO_PASSWORD, DEMO_TOKEN, DEMO_USERNAME, seed_demo


class Command(BaseCommand):
    help = "Create (once) the demo organization, a demo/demo superuser and a few months of demo data. DEBUG only."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates a superuser with a known password: it runs only with DEBUG=1")
        result = seed_demo()
        self.stdout.write(
            f"Demo organization '{result.organization.slug}': {result.releases} releases, "
            f"{result.deployments} deployments."
        )
        self.stdout.write(f"Log in at /accounts/login/ (admin at /admin/) as {DEMO_USERNAME} / {DEMO_PASSWORD}")
        self.stdout.write(f"Demo API token (write scope, development only): {DEMO_TOKEN}")

"""End to end in Chromium: an admin adds a Slack webhook, copies its URL once, and sends a test message."""

import json
import re

import pytest

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.webhooks.test_webhooks import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(transactional_db, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver listens on 127.0.0.1
    settings.PUBLIC_URL = ""
    org = OrganizationFactory(slug="acme", name="Acme")
    MembershipFactory(user=UserFactory(username="alice"), organization=org, role="admin")
    return org


def test_an_admin_adds_a_slack_webhook_and_sends_a_test_message(page, acme):
    with Receiver() as receiver:
        chat_url = f"{receiver.url}/services/T000/B000/secretpart1234"
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/orgs/acme/"))
        page.goto("/orgs/acme/settings/webhooks/")
        assert page.locator("#public-url-note").is_visible()

        page.get_by_label("Slack").check()
        page.get_by_label("URL", exact=True).fill(chat_url)
        page.get_by_label("Deployment succeeded").check()
        page.get_by_label("Deployment rolled back").check()
        page.get_by_role("button", name="Add webhook").click()
        assert page.locator("#new-secret").inner_text().strip() == chat_url
        assert page.get_by_role("button", name="Copy").is_visible()

        page.goto("/orgs/acme/settings/webhooks/")
        assert chat_url not in page.content()  # shown once
        masked = "1234"
        row = page.locator("tr", has_text=masked)
        assert row.get_by_text("Slack", exact=True).is_visible()
        row.get_by_role("button", name=re.compile("Send a test message")).click()
        page.wait_for_selector(".message--success")
        assert "Test message delivered" in page.locator(".messages").inner_text()
        [request] = receiver.requests
        assert json.loads(request["body"])["text"] == "🔔 Test message from Release Tracker: Acme"
    assert page.console_errors == [] and page.foreign_requests == []

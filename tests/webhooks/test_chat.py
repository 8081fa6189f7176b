"""Chat formats (Slack, Microsoft Teams, Discord) delivered to a real HTTP receiver on 127.0.0.1.

Each body is checked whole against the service's documented shape, and against its documented
limits with the worst a release can hold: a thousand commits, 5,000-character messages full of
HTML and Markdown.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.services import deployment_change_status, deployment_record
from releases.services import CommitInput, release_create
from tests.factories import UserFactory
from tests.webhooks.test_webhooks import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import deliver_due, endpoint_create

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
PUBLIC = "https://rt.example.com"
FORMATS = ("slack", "teams", "discord")
CHAT_EVENTS = ["deployment.started", "deployment.succeeded", "deployment.failed", "deployment.rolled_back"]
TITLE = "✅ Deployment succeeded: api 1.4.2 → production"
HOSTILE = "Fix **login** _now_ <script>alert(1)</script> [click](https://evil.example) @everyone <@123> `x` ~y~ | > #1"


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def chat(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 10
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2
    settings.PUBLIC_URL = PUBLIC
    return settings


def endpoints(org, receiver, events=("deployment.succeeded",), **filters) -> dict[str, WebhookEndpoint]:
    return {
        fmt: endpoint_create(organization=org, url=f"{receiver.url}/{fmt}", format=fmt, events=list(events), **filters)
        for fmt in FORMATS
    }


def received(receiver) -> dict[str, list[dict]]:
    """The bodies each format's endpoint received, in order, parsed; with the raw bytes under "raw"."""
    while deliver_due():
        pass
    by_format: dict[str, list] = {}
    for request in receiver.requests:
        body = json.loads(request["body"])
        body_and_raw = {"body": body, "raw": request["body"], "headers": request["headers"]}
        by_format.setdefault(request["path"].rsplit("/", 1)[-1], []).append(body_and_raw)
    return by_format


def story(org, *, message: str = "Fix *login* redirect <script>alert(1)</script>\n\nThe body is not shown."):
    """1.4.1 is live in production; 1.4.2 (two new commits) is deployed over it by alice in 3m 12s."""
    release_create(
        organization=org,
        version="1.4.1",
        projects=["api"],
        commits=[CommitInput(sha="0" * 40, message="Start", timestamp=T0 - timedelta(days=2))],
        created_at=T0 - timedelta(days=2),
    )
    deployment_record(organization=org, environment="production", release="1.4.1", finished_at=T0 - timedelta(days=1))
    release_create(
        organization=org,
        version="1.4.2",
        projects=["api"],
        commits=[
            CommitInput(
                sha="a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
                message=message,
                author_name="Alice Example",
                pr_number=42,
                timestamp=T0 - timedelta(hours=1),
            ),
            CommitInput(
                sha="b2c3d4e5f60718293a4b5c6d7e8f901234567890",
                message="Add [docs](https://evil.example) & _notes_",
                author_name="Bob",
                timestamp=T0 - timedelta(hours=2),
            ),
        ],
        created_at=T0 - timedelta(hours=1),
    )
    deployment, _ = deployment_record(
        organization=org,
        environment="production",
        release="1.4.2",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=3, seconds=12),
        triggered_by="alice",
    )
    return deployment


# The documented shapes ---------------------------------------------------------------------


def test_slack_gets_text_and_block_kit_blocks(org, receiver, chat):
    endpoints(org, receiver)
    story(org)
    slack = received(receiver)["slack"][-1]  # the first message was 1.4.1's
    assert slack["body"] == {
        "text": TITLE,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": TITLE, "emoji": True}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Project*\napi"},
                    {"type": "mrkdwn", "text": "*Version*\n1.4.2"},
                    {"type": "mrkdwn", "text": "*Environment*\nproduction"},
                    {"type": "mrkdwn", "text": "*Status*\nSuccess"},
                    {"type": "mrkdwn", "text": "*Duration*\n3m 12s"},
                    {"type": "mrkdwn", "text": "*Triggered by*\nalice"},
                ],
            },
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": "2 commits since 1.4.1", "style": {"bold": True}}],
                    },
                    {
                        "type": "rich_text_list",
                        "style": "bullet",
                        "elements": [
                            {
                                "type": "rich_text_section",
                                "elements": [
                                    {"type": "text", "text": "a1b2c3d", "style": {"code": True}},
                                    # Literal text: rich_text never reads it as mrkdwn or HTML.
                                    {"type": "text", "text": " Fix *login* redirect <script>alert(1)</script>"},
                                    {"type": "text", "text": " (#42)"},
                                    {"type": "text", "text": " · Alice Example", "style": {"italic": True}},
                                ],
                            },
                            {
                                "type": "rich_text_section",
                                "elements": [
                                    {"type": "text", "text": "b2c3d4e", "style": {"code": True}},
                                    {"type": "text", "text": " Add [docs](https://evil.example) & _notes_"},
                                    {"type": "text", "text": " · Bob", "style": {"italic": True}},
                                ],
                            },
                        ],
                    },
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "<https://rt.example.com/orgs/acme/releases/1.4.2/|Release 1.4.2> · "
                        "<https://rt.example.com/orgs/acme/compare/?base=1.4.1&amp;head=1.4.2&amp;project=api"
                        "|Compare 1.4.1…1.4.2>",
                    }
                ],
            },
        ],
    }
    assert "X-Release-Tracker-Signature-256" not in slack["headers"]
    assert slack["headers"]["X-Release-Tracker-Event"] == "deployment.succeeded"


def test_teams_gets_an_adaptive_card_message(org, receiver, chat):
    endpoints(org, receiver)
    story(org)
    teams = received(receiver)["teams"][-1]

    def fact(label, value):
        return {
            "type": "RichTextBlock",
            "inlines": [
                {"type": "TextRun", "text": f"{label}: ", "weight": "Bolder"},
                {"type": "TextRun", "text": value},
            ],
            "spacing": "None",
        }

    assert teams["body"] == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "RichTextBlock",
                            "inlines": [
                                {
                                    "type": "TextRun",
                                    "text": TITLE,
                                    "size": "Large",
                                    "weight": "Bolder",
                                    "color": "Good",
                                }
                            ],
                        },
                        fact("Project", "api"),
                        fact("Version", "1.4.2"),
                        fact("Environment", "production"),
                        fact("Status", "Success"),
                        fact("Duration", "3m 12s"),
                        fact("Triggered by", "alice"),
                        {
                            "type": "RichTextBlock",
                            "inlines": [{"type": "TextRun", "text": "2 commits since 1.4.1", "weight": "Bolder"}],
                            "separator": True,
                        },
                        {
                            "type": "RichTextBlock",
                            "inlines": [
                                {"type": "TextRun", "text": "a1b2c3d", "fontType": "Monospace"},
                                # A TextRun is never read as Markdown; Teams renders no HTML.
                                {"type": "TextRun", "text": " Fix *login* redirect <script>alert(1)</script>"},
                                {"type": "TextRun", "text": " (#42)"},
                                {"type": "TextRun", "text": " · Alice Example", "isSubtle": True, "italic": True},
                            ],
                            "spacing": "None",
                        },
                        {
                            "type": "RichTextBlock",
                            "inlines": [
                                {"type": "TextRun", "text": "b2c3d4e", "fontType": "Monospace"},
                                {"type": "TextRun", "text": " Add [docs](https://evil.example) & _notes_"},
                                {"type": "TextRun", "text": " · Bob", "isSubtle": True, "italic": True},
                            ],
                            "spacing": "None",
                        },
                    ],
                    "msteams": {"width": "Full"},
                    "actions": [
                        {
                            "type": "Action.OpenUrl",
                            "title": "Release 1.4.2",
                            "url": "https://rt.example.com/orgs/acme/releases/1.4.2/",
                        },
                        {
                            "type": "Action.OpenUrl",
                            "title": "Compare 1.4.1…1.4.2",
                            "url": "https://rt.example.com/orgs/acme/compare/?base=1.4.1&head=1.4.2&project=api",
                        },
                    ],
                },
            }
        ],
    }
    assert "X-Release-Tracker-Signature-256" not in teams["headers"]


def test_discord_gets_content_and_an_embed(org, receiver, chat):
    endpoints(org, receiver)
    story(org)
    discord = received(receiver)["discord"][-1]
    assert discord["body"] == {
        "content": "✅ **Deployment succeeded**: api 1.4.2 → production",
        "embeds": [
            {
                "title": "Deployment succeeded",
                "url": "https://rt.example.com/orgs/acme/releases/1.4.2/",
                "color": 0x2EB67D,
                "fields": [
                    {"name": "Project", "value": "api", "inline": True},
                    {"name": "Version", "value": "1.4.2", "inline": True},
                    {"name": "Environment", "value": "production", "inline": True},
                    {"name": "Status", "value": "Success", "inline": True},
                    {"name": "Duration", "value": "3m 12s", "inline": True},
                    {"name": "Triggered by", "value": "alice", "inline": True},
                ],
                "description": "**2 commits since 1.4.1**\n"
                # Every Markdown character of the data is backslash-escaped: it shows as itself.
                "`a1b2c3d` Fix \\*login\\* redirect \\<script\\>alert\\(1\\)\\</script\\> (#42) · *Alice Example*\n"
                "`b2c3d4e` Add \\[docs\\]\\(https://evil.example\\) & \\_notes\\_ · *Bob*\n"
                "[Release 1.4.2](https://rt.example.com/orgs/acme/releases/1.4.2/) · "
                "[Compare 1.4.1…1.4.2](https://rt.example.com/orgs/acme/compare/?base=1.4.1&head=1.4.2&project=api)",
                "footer": {"text": "Release Tracker"},
                "timestamp": "2026-03-04T10:03:12+00:00",
            }
        ],
        "allowed_mentions": {"parse": []},
    }
    assert "X-Release-Tracker-Signature-256" not in discord["headers"]


def test_json_endpoints_keep_the_signed_payload_beside_chat_ones(org, receiver, chat):
    endpoint_create(organization=org, url=f"{receiver.url}/json", events=["deployment.succeeded"], secret="s3cret")
    endpoints(org, receiver)
    deployment = story(org)
    payload = received(receiver)["json"][-1]
    assert payload["headers"]["X-Release-Tracker-Signature-256"].startswith("sha256=")
    assert payload["body"]["event"] == "deployment.succeeded"
    assert payload["body"]["data"]["id"] == str(deployment.public_id)
    assert payload["body"]["data"]["release"] == "1.4.2"


# Events ------------------------------------------------------------------------------------


def test_started_succeeded_failed_and_rolled_back_each_send_their_message(org, receiver, chat):
    endpoints(org, receiver, events=CHAT_EVENTS)
    release_create(organization=org, version="1.0.0", projects=["api"])
    release_create(organization=org, version="2.0.0", projects=["api"])
    deployment_record(organization=org, environment="production", release="1.0.0")
    running, _ = deployment_record(organization=org, environment="production", release="2.0.0", status="in_progress")
    deployment_change_status(organization=org, deployment=running, status="success")
    deployment_record(organization=org, environment="production", release="1.0.0")  # found to be a rollback
    deployment_record(organization=org, environment="production", release="2.0.0", is_rollback=True)  # flagged
    deployment_record(organization=org, environment="production", release="2.0.0", status="failure")
    deployment_record(organization=org, environment="staging", release="2.0.0", status="queued")  # no outcome yet

    by_format = received(receiver)
    for fmt in FORMATS:
        events = [r["headers"]["X-Release-Tracker-Event"] for r in by_format[fmt]]
        assert events == [
            "deployment.succeeded",
            "deployment.started",
            "deployment.succeeded",
            "deployment.rolled_back",
            "deployment.rolled_back",
            "deployment.failed",
        ], fmt
    headers = [r["body"]["blocks"][0]["text"]["text"] for r in by_format["slack"]]
    assert headers == [
        "✅ Deployment succeeded: api 1.0.0 → production",
        "🚀 Deployment started: api 2.0.0 → production",
        "✅ Deployment succeeded: api 2.0.0 → production",
        "↩️ Deployment rolled back: api 1.0.0 → production",
        "↩️ Deployment rolled back: api 2.0.0 → production",
        "❌ Deployment failed: api 2.0.0 → production",
    ]
    rollback = by_format["discord"][3]["body"]["embeds"][0]
    assert {"name": "Rolled back from", "value": "2.0.0", "inline": True} in rollback["fields"]
    # What a rollback took out: from the release put back to the one it replaced.
    assert "compare/?base=1.0.0&head=2.0.0&project=api" in rollback["url"] + rollback["description"]


def test_environment_and_project_filters_apply_to_chat_endpoints(org, receiver, chat):
    release_create(organization=org, version="1.0.0", projects=["api"])
    deployment_record(organization=org, environment="staging", release="1.0.0")
    deployment_record(organization=org, environment="production", release="1.0.0", status="queued")
    endpoints(org, receiver, environment="production", project="api")
    deployment_record(organization=org, environment="staging", release="1.0.0")
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567", project="web")
    deployment_record(organization=org, environment="production", release="1.0.0")
    by_format = received(receiver)
    assert {fmt: len(bodies) for fmt, bodies in by_format.items()} == {"slack": 1, "teams": 1, "discord": 1}


def test_a_bare_sha_deployment_shows_its_short_sha_and_its_commit(org, receiver, chat):
    endpoint_create(organization=org, url=f"{receiver.url}/slack", format="slack", events=["deployment.failed"])
    deployment_record(organization=org, environment="production", commit_sha="ABCDEF1234567890", status="failure")
    [slack] = received(receiver)["slack"]
    assert slack["body"]["text"] == "❌ Deployment failed: abcdef1 → production"
    assert {"type": "mrkdwn", "text": "*Commit*\nabcdef1"} in slack["body"]["blocks"][1]["fields"]
    commits = slack["body"]["blocks"][2]["elements"]
    assert commits[0]["elements"][0]["text"] == "1 commit"
    # No release page and no compare for a bare sha.
    assert all(block["type"] != "context" for block in slack["body"]["blocks"])


# Links -------------------------------------------------------------------------------------


def test_without_public_url_messages_carry_no_links(org, receiver, chat):
    chat.PUBLIC_URL = ""
    endpoints(org, receiver)
    story(org)
    for fmt, deliveries in received(receiver).items():
        raw = deliveries[-1]["raw"].decode()
        assert "rt.example.com" not in raw and "/orgs/" not in raw, fmt


def test_the_release_link_opens_the_release_page(org, receiver, chat):
    from django.urls import resolve

    from releases import views

    endpoint_create(organization=org, url=f"{receiver.url}/teams", format="teams", events=["deployment.succeeded"])
    release_create(organization=org, version="2.0.0+build/7", projects=["api"])
    deployment_record(organization=org, environment="production", release="2.0.0+build/7")
    [teams] = received(receiver)["teams"]
    [release_link] = teams["body"]["attachments"][0]["content"]["actions"]
    assert release_link["url"] == f"{PUBLIC}/orgs/acme/releases/2.0.0%2Bbuild%2F7/"
    match = resolve(release_link["url"].removeprefix(PUBLIC).replace("%2B", "+"))
    assert match.func == views.release_detail


# Limits and escaping -----------------------------------------------------------------------


def assert_slack_limits(body: dict) -> None:
    """Slack's Block Kit reference: 50 blocks; header 150 characters; section text 3,000, fields
    10 of 2,000; context 10 elements of 3,000; the top-level text is cut at 40,000."""
    assert len(body["text"]) <= 40_000
    assert len(body["blocks"]) <= 50
    for block in body["blocks"]:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        elif block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        else:
            assert block["type"] == "rich_text"


def assert_discord_limits(body: dict) -> None:
    """Discord's message and embed limits: content 2,000; 10 embeds; title 256, description 4,096,
    25 fields of 256 + 1,024, footer 2,048; 6,000 characters across all embeds."""
    assert len(body["content"]) <= 2000
    assert len(body["embeds"]) <= 10
    total = 0
    for embed in body["embeds"]:
        assert len(embed.get("title", "")) <= 256
        assert len(embed.get("description", "")) <= 4096
        assert len(embed["fields"]) <= 25
        for f in embed["fields"]:
            assert 0 < len(f["name"]) <= 256 and 0 < len(f["value"]) <= 1024
        assert len(embed["footer"]["text"]) <= 2048
        total += len(embed.get("title", "")) + len(embed.get("description", "")) + len(embed["footer"]["text"])
        total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert body["allowed_mentions"] == {"parse": []}


def assert_teams_limits(raw: bytes) -> None:
    """Teams' incoming webhooks and Workflows: the whole request at most 28 KB."""
    assert len(raw) <= 28_000


def shown_and_more(fmt: str, body: dict) -> tuple[int, str]:
    """How many commit lines a message shows, and its "and N more" text."""
    if fmt == "slack":
        [commits] = [b for b in body["blocks"] if b["type"] == "rich_text"]
        lists = [e for e in commits["elements"] if e["type"] == "rich_text_list"]
        shown = len(lists[0]["elements"]) if lists else 0
        return shown, commits["elements"][-1]["elements"][0]["text"]
    if fmt == "teams":
        blocks = body["attachments"][0]["content"]["body"]
        lines = [b for b in blocks if b["inlines"][0].get("fontType") == "Monospace"]
        return len(lines), blocks[-1]["inlines"][0]["text"]
    lines = body["embeds"][0]["description"].split("\n")
    more = lines[-2]  # a link to the rest: [and N more](url)
    return sum(line.startswith("`") for line in lines), more[1 : more.index("](")]


def test_a_thousand_commits_with_huge_hostile_messages_stay_within_every_limit(org, receiver, chat):
    endpoints(org, receiver, events=CHAT_EVENTS)
    long = (HOSTILE + " ") * 50  # ~5,000 characters on one line
    assert len(long) >= 5000
    commits = [
        CommitInput(
            sha=f"{n:040x}",
            message=long if n % 2 else f"{HOSTILE}\n\n{long}",
            author_name=("*Mallory* <b>" * 20)[:200],
            pr_number=n,
            timestamp=T0 + timedelta(seconds=n),
        )
        for n in range(1, 1001)
    ]
    name = ("*_~`<b>&" * 25)[:200]
    release_create(organization=org, version=name, projects=[name], commits=commits, created_at=T0)
    deployment_record(organization=org, environment="production", release=name, triggered_by=name, member=name)

    by_format = received(receiver)
    assert_slack_limits(by_format["slack"][0]["body"])
    assert_teams_limits(by_format["teams"][0]["raw"])
    assert_discord_limits(by_format["discord"][0]["body"])
    for fmt in FORMATS:
        shown, more = shown_and_more(fmt, by_format[fmt][0]["body"])
        assert 1 <= shown <= 10, fmt
        assert more == f"and {1000 - shown:,} more", fmt
    # The first release of the project here: "and N more" points at the release page.
    slack_more = by_format["slack"][0]["body"]["blocks"][2]["elements"][-1]["elements"][0]
    assert slack_more["type"] == "link" and slack_more["url"].startswith(f"{PUBLIC}/orgs/acme/releases/")


def test_html_and_markdown_in_data_are_never_read_as_markup(org, receiver, chat):
    endpoints(org, receiver)
    release_create(
        organization=org,
        version="1.0.0",
        projects=["<b>api</b> & *co*"],
        commits=[CommitInput(sha="c" * 40, message=HOSTILE, author_name="<i>Eve</i>")],
    )
    deployment_record(organization=org, environment="prod_eu <1>", release="1.0.0", triggered_by="@here")
    by_format = received(receiver)

    slack = by_format["slack"][0]["body"]
    assert slack["text"] == "✅ Deployment succeeded: &lt;b&gt;api&lt;/b&gt; &amp; *co* 1.0.0 → prod_eu &lt;1&gt;"
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in slack["blocks"][1]["fields"]}
    assert fields["*Project*"] == "&lt;b&gt;api&lt;/b&gt; &amp; *co*"
    assert fields["*Triggered by*"] == "@here"  # a mention needs <!here>, and < is escaped
    commit = slack["blocks"][2]["elements"][1]["elements"][0]["elements"]
    assert commit[1]["text"] == f" {HOSTILE}"

    card = by_format["teams"][0]["body"]["attachments"][0]["content"]
    kinds = {block["type"] for block in card["body"]}
    assert kinds == {"RichTextBlock"}  # no TextBlock or FactSet: nothing here is read as Markdown
    runs = [run["text"] for block in card["body"] for run in block["inlines"]]
    assert f" {HOSTILE}" in runs and "<b>api</b> & *co*" in runs and " · <i>Eve</i>" in runs

    discord = by_format["discord"][0]["body"]
    assert discord["content"] == "✅ **Deployment succeeded**: \\<b\\>api\\</b\\> & \\*co\\* 1.0.0 → prod\\_eu \\<1\\>"
    assert (
        "Fix \\*\\*login\\*\\* \\_now\\_ \\<script\\>alert\\(1\\)\\</script\\> \\[click\\]\\(https://evil.example\\) "
        "@everyone \\<@123\\> \\`x\\` \\~y\\~ \\| \\> \\#1" in discord["embeds"][0]["description"]
    )
    assert discord["allowed_mentions"] == {"parse": []}


# Delivery ----------------------------------------------------------------------------------


def test_a_failure_at_the_chat_service_is_retried_with_backoff(org, receiver, chat):
    receiver.statuses = [500]
    endpoint_create(organization=org, url=f"{receiver.url}/slack", format="slack", events=["deployment.failed"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567", status="failure")
    now = timezone.now()
    assert deliver_due(now=now) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert now + timedelta(seconds=10) <= delivery.next_attempt_at <= now + timedelta(seconds=12.5)
    assert deliver_due(now=now + timedelta(seconds=5)) == 0
    assert deliver_due(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    first, second = receiver.requests
    assert first["body"] == second["body"]  # the message as it was when the deployment happened


def test_a_chat_url_is_checked_again_before_sending(org, receiver, chat):
    endpoint_create(organization=org, url=f"{receiver.url}/discord", format="discord", events=["deployment.failed"])
    chat.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567", status="failure")
    assert deliver_due() == 1
    assert receiver.requests == []
    assert "refused" in WebhookDelivery.objects.get().last_response


def test_queueing_a_message_costs_the_same_queries_whatever_the_history(org, chat):
    endpoint_create(organization=org, url="https://hooks.example.com/x", format="slack", events=CHAT_EVENTS)

    def queries(version: str, day: int) -> int:
        release_create(organization=org, version=version, projects=["api"], created_at=T0 - timedelta(days=day))
        with CaptureQueriesContext(connection) as ctx:
            deployment_record(
                organization=org, environment="production", release=version, finished_at=T0 - timedelta(days=day)
            )
        return len(ctx.captured_queries)

    queries("0.1", 40)
    few = queries("0.2", 39)
    for n in range(3, 23):
        queries(f"0.{n}", 40 - n)
    assert queries("1.0", 1) == few


# Test messages -----------------------------------------------------------------------------


def test_the_test_message_tells_what_the_channel_will_hear(api, org, receiver, chat):
    chat.PUBLIC_URL = ""
    endpoint = endpoint_create(
        organization=org, url=f"{receiver.url}/slack", format="slack", events=["deployment.failed"], environment=None
    )
    endpoint.is_active = False  # paused endpoints can be tested before they are resumed
    endpoint.save(update_fields=["is_active"])
    response = api.post(f"/api/v1/webhooks/{endpoint.public_id}/test/")
    assert response.status_code == 200
    assert (response.json()["event"], response.json()["state"]) == ("webhook.test", "delivered")
    [request] = receiver.requests
    assert request["headers"]["X-Release-Tracker-Event"] == "webhook.test"
    assert json.loads(request["body"]) == {
        "text": "🔔 Test message from Release Tracker: Acme",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": "🔔 Test message from Release Tracker: Acme", "emoji": True},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Events*\ndeployment.failed"},
                    {"type": "mrkdwn", "text": "*Project*\nall"},
                    {"type": "mrkdwn", "text": "*Environment*\nall"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "PUBLIC_URL is not set on the server: messages carry no links."}
                ],
            },
        ],
    }


def test_a_test_message_the_service_refuses_answers_with_its_reason(api, org, receiver, chat):
    receiver.statuses = [404]
    endpoint = endpoint_create(organization=org, url=f"{receiver.url}/t", format="teams", events=["deployment.failed"])
    answer = api.post(f"/api/v1/webhooks/{endpoint.public_id}/test/").json()
    assert (answer["state"], answer["attempts"], answer["last_status_code"]) == ("pending", 1, 404)
    assert answer["last_response"] == "answer 404"
    assert deliver_due() == 0  # retried later like any delivery, not at once by the worker


def test_a_json_test_message_is_signed(api, org, receiver, chat):
    import hashlib
    import hmac

    endpoint = endpoint_create(organization=org, url=receiver.url, events=["deployment.failed"], secret="s3cret")
    assert api.post(f"/api/v1/webhooks/{endpoint.public_id}/test/").json()["state"] == "delivered"
    [request] = receiver.requests
    expected = "sha256=" + hmac.new(b"s3cret", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Release-Tracker-Signature-256"] == expected
    body = json.loads(request["body"])
    assert (body["event"], body["data"]) == (
        "webhook.test",
        {"webhook": str(endpoint.public_id), "events": ["deployment.failed"]},
    )


# The API -----------------------------------------------------------------------------------

SLACK_URL = "https://hooks.slack.com/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXabcd"


def test_the_api_creates_a_chat_webhook_and_shows_its_url_only_once(api, chat):
    created = api.post(
        "/api/v1/webhooks/", {"url": SLACK_URL, "format": "slack", "events": ["deployment.failed"]}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["url"], body["format"], body["secret"], body["secret_hint"]) == (SLACK_URL, "slack", None, None)
    detail = api.get(created["Location"]).json()
    assert detail["url"] == "https://hooks.slack.com/…abcd"
    listed = api.get("/api/v1/webhooks/")
    assert SLACK_URL not in listed.content.decode()
    assert listed.json()["results"][0]["url"] == "https://hooks.slack.com/…abcd"
    assert api.patch(created["Location"], {"format": "slack", "is_active": False}, format="json").status_code == 200
    changed = api.patch(created["Location"], {"format": "json"}, format="json")
    assert changed.status_code == 400
    assert changed.json()["error"].startswith("format: cannot be changed")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"events": ["deployment.created"]}, "events: 'deployment.created' has no chat message; a teams webhook"),
        ({"events": ["webhook.test"]}, "events.0: "),
        ({"events": ["deployment.failed"], "secret": "abc"}, "secret: teams messages are not signed"),
        ({"events": ["deployment.failed"], "format": "email"}, "format: "),
        (
            {"events": ["deployment.failed"], "url": "http://169.254.169.254/x"},
            "url: must be a public address: 169.254",
        ),
    ],
)
def test_the_api_refuses_what_a_chat_webhook_cannot_do(api, payload, error):
    body = {"url": "https://example.webhook.office.com/webhookb2/x", "format": "teams", **payload}
    response = api.post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


# The settings page and the admin -----------------------------------------------------------

PAGE = "/orgs/acme/settings/webhooks/"


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_the_settings_page_adds_a_chat_webhook_and_masks_its_url_after(alice_client, chat):
    response = alice_client.post(PAGE, {"format": "discord", "url": SLACK_URL, "events": ["deployment.failed"]})
    assert response.status_code == 201
    page = response.content.decode()
    assert SLACK_URL in page and response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.format, endpoint.secret) == ("discord", "")
    again = alice_client.get(PAGE).content.decode()
    assert SLACK_URL not in again
    assert "https://hooks.slack.com/…abcd" in again and "Discord" in again
    refused = alice_client.post(PAGE, {"format": "slack", "url": SLACK_URL, "events": ["deployment.requested"]})
    assert refused.status_code == 400
    assert "has no chat message" in refused.content.decode()


def test_the_settings_page_says_when_messages_carry_no_links(alice_client, chat):
    assert "public-url-note" not in alice_client.get(PAGE).content.decode()
    chat.PUBLIC_URL = ""
    assert "Chat messages carry no links" in alice_client.get(PAGE).content.decode()


def test_the_send_test_message_button(alice_client, org, receiver, chat):
    endpoint = endpoint_create(organization=org, url=f"{receiver.url}/d", format="discord", events=CHAT_EVENTS)
    response = alice_client.post(f"{PAGE}{endpoint.public_id}/test/", follow=True)
    assert response.status_code == 200
    assert "Test message delivered to http://127.0.0.1:" in response.content.decode()
    assert json.loads(receiver.requests[0]["body"])["embeds"][0]["title"] == "Test message from Release Tracker"
    receiver.statuses = [401]
    failed = alice_client.post(f"{PAGE}{endpoint.public_id}/test/", follow=True).content.decode()
    assert "failed: HTTP 401: answer 401" in failed


def test_the_admin_never_puts_a_chat_url_back_in_the_page(org, chat):
    staff = Client()
    staff.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    endpoint = endpoint_create(organization=org, url=SLACK_URL, format="slack", events=["deployment.failed"])
    listing = staff.get("/admin/webhooks/webhookendpoint/").content.decode()
    assert SLACK_URL not in listing and "https://hooks.slack.com/…abcd" in listing
    url = f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/"
    form = staff.get(url).content.decode()
    assert SLACK_URL not in form
    saved = staff.post(
        url,
        {
            "organization": org.pk,
            "url": "",
            "secret": "",
            "events": ["deployment.failed", "deployment.rolled_back"],
            "is_active": "on",
            "description": "ops channel",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.format, endpoint.description) == (SLACK_URL, "slack", "ops channel")
    assert endpoint.events == ["deployment.failed", "deployment.rolled_back"]


# PUBLIC_URL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "refused"),
    [("https://tracker.example.com/", False), ("tracker.example.com", True), ("https://x.example/?a=1", True)],
)
def test_public_url_must_be_an_http_address(value, refused):
    from tests.core.test_health_and_settings import run_settings

    result = run_settings(
        {
            "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-1234567890",
            "ALLOWED_HOSTS": "tracker.example.com",
            "PUBLIC_URL": value,
        }
    )
    assert (result.returncode != 0) is refused, result.stderr[-2000:]
    assert ("PUBLIC_URL=" in result.stderr) is refused

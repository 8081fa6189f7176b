"""Each chat service's message shape and limits, built from a ``webhooks.messages.Message``.

The organization's data (names, versions, commit messages) is never read as markup:

- Slack: commit lines go in a ``rich_text`` block, whose text elements are literal (Slack's advice
  for user-written text); other data is in ``mrkdwn`` with Slack's documented escaping of ``&``,
  ``<`` and ``>``, or in the ``plain_text`` header.
- Microsoft Teams: data is in ``TextRun``s of ``RichTextBlock``s, which Adaptive Cards never read
  as Markdown (TextBlocks and FactSets would).
- Discord: data is in Markdown fields with every Markdown character backslash-escaped, and no
  message may mention anyone (``allowed_mentions``).

A service's limits are kept by cutting long values with "…" and, when the whole message is still
too long, by listing fewer commits ("and N more"): a message is never refused for its size.
"""

import json
import re
from collections.abc import Callable

from webhooks.messages import CommitLine, Message
from webhooks.models import WebhookFormat


def encode_body(payload: dict) -> bytes:
    """The request body as the worker sends it (and as the size limits are measured)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def _same(text: str) -> str:
    return text


def clip(raw: str, limit: int, escape: Callable[[str], str] = _same) -> str:
    """``raw`` escaped, cut with "…" so that the escaped text has at most ``limit`` characters."""
    text = escape(raw)
    keep = len(raw)
    while len(text) > limit and keep > 0:
        keep = max(0, keep - max(1, len(text) - limit))
        text = escape(raw[:keep].rstrip()) + "…"
    return text


def _more(message: Message, shown: int) -> str:
    return f"and {message.commits_total - shown:,} more"


# Slack (incoming webhooks: https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks) ----

SLACK_MAX_BLOCKS = 50
SLACK_TEXT = 3000  # a section's or context element's text
SLACK_FIELD_TEXT = 2000
SLACK_MAX_FIELDS = 10
SLACK_HEADER_TEXT = 150


def slack_escape(text: str) -> str:
    """The only escaping Slack's mrkdwn has: ``&``, ``<`` and ``>`` become entities (no links, no mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_text(text: str, **style) -> dict:
    element = {"type": "text", "text": text}
    if style:
        element["style"] = style
    return element


def _slack_commit(commit: CommitLine) -> dict:
    elements = [_slack_text(commit.sha, code=True)]
    if commit.title:
        elements.append(_slack_text(f" {commit.title}"))
    if commit.pr_number:
        elements.append(_slack_text(f" (#{commit.pr_number})"))
    if commit.author:
        elements.append(_slack_text(f" · {commit.author}", italic=True))
    return {"type": "rich_text_section", "elements": elements}


def _slack(message: Message, shown: int) -> dict:
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(message.title, SLACK_HEADER_TEXT), "emoji": True},
        }
    ]
    if message.facts:
        fields = []
        for label, value in message.facts[:SLACK_MAX_FIELDS]:
            lead = f"*{label}*\n"
            fields.append({"type": "mrkdwn", "text": lead + clip(value, SLACK_FIELD_TEXT - len(lead), slack_escape)})
        blocks.append({"type": "section", "fields": fields})
    if message.commits_total:
        elements: list[dict] = [
            {"type": "rich_text_section", "elements": [_slack_text(message.commits_heading, bold=True)]}
        ]
        if shown:
            elements.append(
                {
                    "type": "rich_text_list",
                    "style": "bullet",
                    "elements": [_slack_commit(commit) for commit in message.commits[:shown]],
                }
            )
        if message.commits_total > shown:
            more = _more(message, shown)
            link = {"type": "link", "url": message.more_url, "text": more} if message.more_url else _slack_text(more)
            elements.append({"type": "rich_text_section", "elements": [link]})
        blocks.append({"type": "rich_text", "elements": elements})
    context = []
    if message.links:
        links = " · ".join(f"<{slack_escape(link.url)}|{slack_escape(link.text)}>" for link in message.links)
        context.append({"type": "mrkdwn", "text": clip(links, SLACK_TEXT)})
    if message.note:
        context.append({"type": "mrkdwn", "text": clip(message.note, SLACK_TEXT, slack_escape)})
    if context:
        blocks.append({"type": "context", "elements": context})
    # The top-level text is what notifications and screen readers show.
    return {"text": clip(message.title, SLACK_TEXT, slack_escape), "blocks": blocks[:SLACK_MAX_BLOCKS]}


def _slack_fits(payload: dict) -> bool:
    return len(payload["blocks"]) <= SLACK_MAX_BLOCKS


# Microsoft Teams (an Adaptive Card, as Teams' incoming webhooks and the Workflows app take it) -----

ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# Version 1.4: what the Workflows app and every Teams client render (RichTextBlock is 1.2).
ADAPTIVE_CARD_VERSION = "1.4"
# Microsoft documents 28 KB for the whole request; a margin under it, since requests somewhat
# smaller than that have been reported refused.
TEAMS_MAX_BYTES = 20_000
_TEAMS_COLOURS = {
    "success": "Good",
    "failure": "Attention",
    "rollback": "Warning",
    "progress": "Accent",
    "info": "Default",
}


def _run(text: str, **style) -> dict:
    return {"type": "TextRun", "text": text, **style}


def _rich(*inlines: dict, **props) -> dict:
    return {"type": "RichTextBlock", "inlines": list(inlines), **props}


def _teams_commit(commit: CommitLine) -> dict:
    inlines = [_run(commit.sha, fontType="Monospace")]
    if commit.title:
        inlines.append(_run(f" {commit.title}"))
    if commit.pr_number:
        inlines.append(_run(f" (#{commit.pr_number})"))
    if commit.author:
        inlines.append(_run(f" · {commit.author}", isSubtle=True, italic=True))
    return _rich(*inlines, spacing="None")


def _teams(message: Message, shown: int) -> dict:
    body = [_rich(_run(message.title, size="Large", weight="Bolder", color=_TEAMS_COLOURS[message.tone]))]
    body += [_rich(_run(f"{label}: ", weight="Bolder"), _run(value), spacing="None") for label, value in message.facts]
    if message.commits_total:
        body.append(_rich(_run(message.commits_heading, weight="Bolder"), separator=True))
        body += [_teams_commit(commit) for commit in message.commits[:shown]]
        if message.commits_total > shown:
            more = _run(_more(message, shown))
            if message.more_url:
                more.update(color="Accent", selectAction={"type": "Action.OpenUrl", "url": message.more_url})
            body.append(_rich(more, spacing="None"))
    if message.note:
        body.append(_rich(_run(message.note, isSubtle=True, size="Small")))
    card: dict = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if message.links:
        card["actions"] = [{"type": "Action.OpenUrl", "title": link.text, "url": link.url} for link in message.links]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _teams_fits(payload: dict) -> bool:
    return len(encode_body(payload)) <= TEAMS_MAX_BYTES


# Discord (execute webhook: https://discord.com/developers/docs/resources/webhook#execute-webhook) ----

DISCORD_CONTENT = 2000
DISCORD_MAX_EMBEDS = 10
DISCORD_TITLE = 256
DISCORD_DESCRIPTION = 4096
DISCORD_MAX_FIELDS = 25
DISCORD_FIELD_VALUE = 1024
DISCORD_EMBEDS_TOTAL = 6000  # title, description, field names and values, footer: all embeds together
_DISCORD_COLOURS = {
    "success": 0x2EB67D,
    "failure": 0xE01E5A,
    "rollback": 0xECB22E,
    "progress": 0x36C5F0,
    "info": 0x5865F2,
}
_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|<>\[\]()#\-])")


def discord_escape(text: str) -> str:
    """Every character Discord's Markdown reads (emphasis, code, spoilers, quotes, headings, lists,
    links, mentions' angle brackets) preceded by a backslash, so it shows as itself."""
    return _DISCORD_MARKDOWN.sub(r"\\\1", text)


def _discord_commit(commit: CommitLine) -> str:
    line = f"`{commit.sha}`"
    if commit.title:
        line += f" {discord_escape(commit.title)}"
    if commit.pr_number:
        line += f" (#{commit.pr_number})"
    if commit.author:
        line += f" · *{discord_escape(commit.author)}*"
    return line


def _discord(message: Message, shown: int) -> dict:
    lines = []
    if message.commits_total:
        lines.append(f"**{discord_escape(message.commits_heading)}**")
        lines += [_discord_commit(commit) for commit in message.commits[:shown]]
        if message.commits_total > shown:
            more = _more(message, shown)
            lines.append(f"[{more}]({message.more_url})" if message.more_url else more)
    if message.links:
        lines.append(" · ".join(f"[{discord_escape(link.text)}]({link.url})" for link in message.links))
    if message.note:
        lines.append(f"*{discord_escape(message.note)}*")
    embed: dict = {
        "title": clip(message.headline, DISCORD_TITLE),
        "color": _DISCORD_COLOURS[message.tone],
        "fields": [
            {"name": label, "value": clip(value, DISCORD_FIELD_VALUE, discord_escape), "inline": True}
            for label, value in message.facts[:DISCORD_MAX_FIELDS]
        ],
        "footer": {"text": "Release Tracker"},
    }
    if message.links:
        embed["url"] = message.links[0].url
    if lines:
        embed["description"] = "\n".join(lines)
    if message.occurred_at is not None:
        embed["timestamp"] = message.occurred_at.isoformat()
    content = clip(f"{message.icon} **{message.headline}**: ", DISCORD_CONTENT)
    content += clip(message.subject, DISCORD_CONTENT - len(content), discord_escape)
    return {"content": content, "embeds": [embed], "allowed_mentions": {"parse": []}}


def discord_embeds_length(payload: dict) -> int:
    return sum(
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
        + len(embed.get("footer", {}).get("text", ""))
        for embed in payload["embeds"]
    )


def _discord_fits(payload: dict) -> bool:
    return (
        len(payload["embeds"]) <= DISCORD_MAX_EMBEDS
        and len(payload["embeds"][0].get("description", "")) <= DISCORD_DESCRIPTION
        and discord_embeds_length(payload) <= DISCORD_EMBEDS_TOTAL
    )


# ----------------------------------------------------------------------------------------------------

_BUILDERS = {
    WebhookFormat.SLACK: (_slack, _slack_fits),
    WebhookFormat.TEAMS: (_teams, _teams_fits),
    WebhookFormat.DISCORD: (_discord, _discord_fits),
}


def render(format: str, message: Message) -> dict:
    """The body to post to a ``format`` chat endpoint: the message with as many of its commits as
    the service's limits allow (the rest are counted in "and N more")."""
    build, fits = _BUILDERS[format]
    for shown in range(len(message.commits), 0, -1):
        payload = build(message, shown)
        if fits(payload):
            return payload
    # Without a commit line every value is already cut to its field's limit.
    return build(message, 0)

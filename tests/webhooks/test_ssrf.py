"""Outgoing webhooks go only to public addresses, and only to the address that was checked.

Nothing here reaches the internet: refused targets are refused before any connection, and the
deliveries that do go out go to real servers on 127.0.0.1 (plain HTTP, and HTTPS with a
certificate authority made for the test). Names under ``.invalid`` never resolve (RFC 6761), so a
request that reaches a server under such a name can only have gone to the address checked.
"""

import importlib
import json
import ssl
import subprocess

import pytest
from django.test import Client

from deployments.services import deployment_record
from releasetracker.errors import DomainError
from tests.factories import UserFactory
from tests.webhooks.test_webhooks import Receiver
from webhooks import targets
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import deliver_due, endpoint_create

# A host in every special-purpose range, and the range the refusal must name.
REFUSED = [
    ("0.1.2.3", "0.0.0.0/8"),
    ("10.1.2.3", "10.0.0.0/8"),
    ("100.64.0.1", "100.64.0.0/10"),
    ("100.100.100.200", "100.64.0.0/10"),  # a cloud metadata service
    ("127.0.0.1", "127.0.0.0/8"),
    ("169.254.169.254", "169.254.0.0/16"),
    ("172.16.5.4", "172.16.0.0/12"),
    ("192.0.0.8", "192.0.0.0/24"),
    ("192.0.2.1", "192.0.2.0/24"),
    ("192.88.99.1", "192.88.99.0/24"),
    ("192.168.1.1", "192.168.0.0/16"),
    ("198.18.0.1", "198.18.0.0/15"),
    ("198.51.100.7", "198.51.100.0/24"),
    ("203.0.113.9", "203.0.113.0/24"),
    ("224.0.0.1", "224.0.0.0/4"),
    ("240.0.0.1", "240.0.0.0/4"),
    ("255.255.255.255", "255.255.255.255/32"),
    ("[::]", "::/128"),
    ("[::1]", "::1/128"),
    ("[::ffff:169.254.169.254]", "::ffff:0:0/96, IPv4-mapped, carrying 169.254.169.254"),
    ("[::ffff:8.8.8.8]", "::ffff:0:0/96"),
    ("[::127.0.0.1]", "::/96, IPv4-compatible (deprecated), carrying 127.0.0.1"),
    ("[::ffff:0:a9fe:a9fe]", "::ffff:0:0:0/96, IPv4-translated, carrying 169.254.169.254"),
    ("[64:ff9b::a9fe:a9fe]", "64:ff9b::/96, NAT64, carrying 169.254.169.254"),
    ("[64:ff9b:1::1]", "64:ff9b:1::/48"),
    ("[100::1]", "100::/64"),
    ("[2001:2::1]", "2001::/23"),
    ("[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "2001::/32, Teredo, carrying 192.0.2.45"),
    ("[2001:db8::1]", "2001:db8::/32"),
    ("[2002:a9fe:a9fe::1]", "2002::/16, 6to4, carrying 169.254.169.254, which is in 169.254.0.0/16"),
    ("[3fff::1]", "3fff::/20"),
    ("[5f00::1]", "5f00::/16"),
    ("[fc00::1]", "fc00::/7"),
    ("[fd12:3456::1]", "fc00::/7"),
    ("[fe80::1]", "fe80::/10"),
    ("[fec0::1]", "fec0::/10"),
    ("[ff02::1]", "ff00::/8"),
    ("[a::1]", "outside 2000::/3"),
]


def _ids(rows):
    return [host for host, _ in rows]


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def strict(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2
    return settings


# At save --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "network"), REFUSED, ids=_ids(REFUSED))
@pytest.mark.django_db
def test_the_api_refuses_to_save_a_special_purpose_address_naming_the_range(api, strict, host, network):
    response = api.post(
        "/api/v1/webhooks/", {"url": f"http://{host}/hook", "events": ["deployment.failed"]}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["error"].startswith("url: must be a public address: ")
    assert network in body["error"]
    assert list(body["fields"]) == ["url"]
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.parametrize("url", ["http://8.8.8.8/hook", "https://[2606:4700:4700::1111]:8443/hook"])
@pytest.mark.django_db
def test_a_public_address_is_accepted(api, strict, url):
    response = api.post("/api/v1/webhooks/", {"url": url, "events": ["deployment.failed"]}, format="json")
    assert response.status_code == 201, response.json()


@pytest.mark.django_db
def test_changing_the_url_to_a_metadata_address_is_refused_and_keeps_the_old_one(api, strict):
    created = api.post(
        "/api/v1/webhooks/", {"url": "http://8.8.8.8/hook", "events": ["deployment.failed"]}, format="json"
    )
    response = api.patch(created["Location"], {"url": "http://100.100.100.200/latest/meta-data/"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("url: must be a public address: 100.100.100.200 is in 100.64.0.0/10")
    assert WebhookEndpoint.objects.get().url == "http://8.8.8.8/hook"


@pytest.mark.django_db
def test_the_settings_page_refuses_a_shared_address_space_target(alice, strict):
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/orgs/acme/settings/webhooks/", {"url": "http://100.64.0.1/hook", "events": ["deployment.failed"]}
    )
    assert response.status_code == 400
    assert "must be a public address: 100.64.0.1 is in 100.64.0.0/10" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_refuses_a_6to4_address_carrying_the_metadata_address(org, strict):
    staff = Client()
    staff.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    response = staff.post(
        "/admin/webhooks/webhookendpoint/add/",
        {
            "organization": org.pk,
            "format": "json",
            "url": "http://[2002:a9fe:a9fe::1]/latest/meta-data/",
            "secret": "",
            "events": ["deployment.failed"],
            "is_active": "on",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "carrying 169.254.169.254" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


# At send --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "network"), REFUSED, ids=_ids(REFUSED))
@pytest.mark.django_db
def test_the_worker_refuses_to_send_to_a_special_purpose_address_saved_earlier(org, settings, host, network):
    # Saved while private targets were allowed (or before this check existed), then disallowed.
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    endpoint_create(organization=org, url=f"http://{host}/hook", events=["deployment.created"])
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")

    assert deliver_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status_code) == ("pending", None)
    assert delivery.last_response.startswith("refused: must be a public address: ")
    assert network in delivery.last_response


@pytest.mark.django_db
def test_an_address_written_as_one_number_is_refused_at_save_and_at_send(org, settings):
    # The API's URL field already refuses such a host; the service, which every entry point uses,
    # checks the address the system makes of it (127.0.0.1).
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(DomainError, match=r"2130706433 resolves to 127\.0\.0\.1, which is in 127\.0\.0\.0/8, loopback"):
        endpoint_create(organization=org, url="http://2130706433/hook", events=["deployment.created"])
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    endpoint_create(organization=org, url="http://2130706433/hook", events=["deployment.created"])
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    assert deliver_due() == 1
    assert WebhookDelivery.objects.get().last_response.startswith("refused: must be a public address: 2130706433")


# The connection goes to the address that was checked ---------------------------------------


def test_plain_http_connects_to_the_checked_address_and_names_the_host(receiver):
    port = receiver.server.server_address[1]
    target = targets.Target(
        scheme="http", host="hooks.rebind.invalid", port=port, path="/hook?x=1", addresses=("127.0.0.1",)
    )
    answer = targets.post(target, b"{}", {"Content-Type": "application/json"}, timeout=2)
    assert (answer.ok, answer.status_code) == (True, 200)
    [request] = receiver.requests
    assert request["path"] == "/hook?x=1"
    assert request["headers"]["Host"] == f"hooks.rebind.invalid:{port}"


def test_the_next_checked_address_is_tried_when_the_first_does_not_answer(receiver):
    port = receiver.server.server_address[1]
    # Nothing listens on ::1 at the receiver's port (it listens on 127.0.0.1 only).
    target = targets.Target(
        scheme="http", host="hooks.rebind.invalid", port=port, path="/", addresses=("::1", "127.0.0.1")
    )
    answer = targets.post(target, b"{}", {}, timeout=2)
    assert answer.status_code == 200
    assert len(receiver.requests) == 1


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A certificate authority and a server certificate for hooks.rebind.invalid and 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=folder)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=hooks.rebind.invalid",
             cwd=folder)  # fmt: skip
    (folder / "ext.cnf").write_text(
        "subjectAltName=DNS:hooks.rebind.invalid,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=folder)  # fmt: skip
    return folder


@pytest.fixture
def tls_receiver(certificates, monkeypatch):
    """A receiver speaking HTTPS on 127.0.0.1, trusted through SSL_CERT_FILE, recording SNI names."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    server_names = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    receiver = Receiver()
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    receiver.server_names = server_names
    with receiver:
        yield receiver


def test_https_connects_to_the_checked_address_with_sni_and_verifies_the_name(tls_receiver):
    port = tls_receiver.server.server_address[1]
    target = targets.Target(
        scheme="https", host="hooks.rebind.invalid", port=port, path="/hook", addresses=("127.0.0.1",)
    )
    answer = targets.post(target, b"{}", {}, timeout=5)
    assert (answer.ok, answer.status_code) == (True, 200), answer.response
    assert tls_receiver.server_names == ["hooks.rebind.invalid"]
    assert tls_receiver.requests[0]["headers"]["Host"] == f"hooks.rebind.invalid:{port}"


def test_https_refuses_a_certificate_for_another_name(tls_receiver):
    port = tls_receiver.server.server_address[1]
    target = targets.Target(
        scheme="https", host="elsewhere.rebind.invalid", port=port, path="/hook", addresses=("127.0.0.1",)
    )
    answer = targets.post(target, b"{}", {}, timeout=5)
    assert (answer.ok, answer.status_code) == (False, None)
    assert "certificate verify failed" in answer.response
    assert tls_receiver.requests == []


@pytest.mark.django_db
def test_the_worker_delivers_over_https_to_the_checked_address(org, settings, tls_receiver):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver listens on 127.0.0.1
    port = tls_receiver.server.server_address[1]
    endpoint_create(organization=org, url=f"https://127.0.0.1:{port}/hook", events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    assert deliver_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status_code) == ("delivered", 200), delivery.last_response
    assert json.loads(tls_receiver.requests[0]["body"])["event"] == "deployment.created"


def test_localhost_is_refused_by_its_name_before_any_lookup(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(DomainError) as refused:
        targets.resolve_target("http://app.localhost:8000/hook")
    assert refused.value.field == "url"
    assert refused.value.message == "must not point at this server: localhost is loopback"


# The delivery log ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_delivery_log_keeps_only_an_excerpt_of_the_answer(api, org, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    secret_page = "ami-id\n" + "x" * 5000
    with Receiver() as receiver:
        receiver.statuses = [500]
        receiver.answer = secret_page.encode()
        endpoint = endpoint_create(organization=org, url=receiver.url, events=["deployment.created"])
        deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
        deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_status_code == 500
    assert delivery.last_response == secret_page[: targets.RESPONSE_EXCERPT]
    listed = api.get(f"/api/v1/webhooks/{endpoint.public_id}/deliveries/").json()
    assert listed["results"][0]["last_response"] == secret_page[:200]


@pytest.mark.django_db
def test_answers_stored_before_are_cut_to_the_excerpt(org, settings):
    from django.apps import apps

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    endpoint = endpoint_create(organization=org, url="http://127.0.0.1:9/hook", events=["deployment.created"])
    deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    WebhookDelivery.objects.update(last_response="y" * 2000)
    migration = importlib.import_module("webhooks.migrations.0003_last_response_excerpt")
    migration.cut_stored_answers(apps, None)
    assert WebhookDelivery.objects.get(endpoint=endpoint).last_response == "y" * 200


# The deliveries list ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_deliveries_list_is_a_cursor_page_like_every_list(api, org, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    endpoint = endpoint_create(organization=org, url="http://127.0.0.1:9/hook", events=["deployment.created"])
    for i in range(3):
        deployment_record(organization=org, environment="production", commit_sha=f"abcdef123456{i}")
    url = f"/api/v1/webhooks/{endpoint.public_id}/deliveries/"
    first = api.get(url, {"page_size": 2}).json()
    assert set(first) == {"next", "previous", "results"}
    assert len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    seen = [d["id"] for d in first["results"] + second["results"]]
    newest_first = [str(d.public_id) for d in WebhookDelivery.objects.order_by("-created_at", "-id")]
    assert seen == newest_first
    assert api.get(url, {"page_size": "abc"}).status_code == 400

"""Where outgoing webhooks may go, and the one connection that goes there.

A webhook URL is chosen by whoever holds a write token, and the server posts to it from inside
its own network: without these rules it would reach the cloud metadata service, the database or
the admin interface of a router on the caller's behalf (server-side request forgery).

``refusal`` is the one decision: an address is delivered to only when it is globally reachable
unicast by IANA's IPv4 and IPv6 special-purpose address registries. IPv6 forms that carry an IPv4
address (mapped, compatible, translated, NAT64, 6to4, Teredo) are refused as ranges, and their
reason names the IPv4 address inside.

``resolve_target`` looks the host up once and checks every address it got; ``post`` connects to
one of exactly those addresses, never to the name, so a name that answers with a public address
for the check and a private one a moment later (DNS rebinding) cannot move the connection.
"""

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from releasetracker.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# How much of a receiver's answer the delivery log keeps: enough for "404 no such hook", too little
# to make a webhook a way to read pages off the receiving host.
RESPONSE_EXCERPT = 200
CONNECT_TRIES = 3

# Every special-purpose block of IANA's registries that is not globally reachable, and the blocks
# that carry an IPv4 address inside an IPv6 one. The narrowest block containing an address names
# the reason.
_V4 = [
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private network"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT, cloud metadata services)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata services)"),
    ("172.16.0.0/12", "private network"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
    ("192.168.0.0/16", "private network"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
]
_V6 = [
    ("::/128", "unspecified address"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::ffff:0:0:0/96", "IPv4-translated"),
    ("64:ff9b::/96", "NAT64"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001::/32", "Teredo"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "SRv6 segment identifiers"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
]
REFUSED_NETWORKS: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = sorted(
    ((ipaddress.ip_network(net), why) for net, why in _V4 + _V6),
    key=lambda row: -row[0].prefixlen,
)
# IANA allocates global unicast only from here; anything else in IPv6 is reserved.
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-embedding IPv6 address stands for, or None."""
    value = int(ip)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address: where the packet ends up
    if ip in ipaddress.ip_network("64:ff9b::/96") or ip in ipaddress.ip_network("::ffff:0:0:0/96"):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if ip in ipaddress.ip_network("::/96") and value > 1:
        return ipaddress.IPv4Address(value)
    return None


def _classify(ip: IPAddress) -> str | None:
    """Where ``ip`` is, when it is not globally reachable unicast ("in 127.0.0.0/8, loopback")."""
    for network, why in REFUSED_NETWORKS:
        if ip.version == network.version and ip in network:
            what = f"in {network}, {why}"
            inner = _embedded_ipv4(ip) if ip.version == 6 else None
            if inner is not None:
                inner_what = _classify(inner)
                what += f", carrying {inner}" + (f", which is {inner_what}" if inner_what else "")
            return what
    if ip.version == 6 and ip not in GLOBAL_UNICAST_V6:
        return f"outside {GLOBAL_UNICAST_V6}, the global unicast space"
    # The standard library's view as a second opinion: it only ever adds refusals.
    if not ip.is_global:
        return "not globally reachable"
    return None


def refusal(address: str | IPAddress) -> str | None:
    """Why ``address`` must not be delivered to, or None when it is globally reachable unicast."""
    ip = ipaddress.ip_address(address.split("%")[0] if isinstance(address, str) else address)
    what = _classify(ip)
    return None if what is None else f"{ip} is {what}"


def _private_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_TARGETS", False))


class Unresolvable(DomainError):
    """The host has no address now: a failed attempt at send, accepted at save."""


@dataclass(frozen=True)
class Target:
    """A URL split for sending, with the addresses its host had when it was checked."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def _split(url: str, field: str):
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise DomainError("has a port that is not a number from 0 to 65535", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError("must be an http:// or https:// URL with a host", field=field)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` has now (one lookup), or an IP literal as it is."""
    literal = _literal(host)
    if literal is not None:
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    addresses = []
    for info in infos:
        address = str(ipaddress.ip_address(info[4][0].split("%")[0]))
        if address not in addresses:
            addresses.append(address)
    return addresses


def _check_name(host: str, field: str) -> None:
    if _private_allowed():
        return
    lowered = host.lower().rstrip(".")
    if lowered == "localhost" or lowered.endswith(".localhost"):
        raise DomainError("must not point at this server: localhost is loopback", field=field)


def _check_addresses(host: str, addresses: list[str], field: str) -> None:
    if _private_allowed():
        return
    for address in addresses:
        ip = ipaddress.ip_address(address)
        what = _classify(ip)
        if what is None:
            continue
        if address == host or ip == _literal(host):
            raise DomainError(f"must be a public address: {ip} is {what}", field=field)
        raise DomainError(f"must be a public address: {host} resolves to {ip}, which is {what}", field=field)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def check_url(url: str, *, field: str = "url") -> None:
    """The check when an endpoint is saved: the scheme, and every address the host has now.

    A name that does not resolve yet is accepted: the worker checks again before every send.
    """
    scheme, host, port, _ = _split(url, field)
    if _private_allowed():
        return  # nothing to refuse: no lookup either
    _check_name(host, field)
    _check_addresses(host, resolve(host, port), field)


def resolve_target(url: str, *, field: str = "url") -> Target:
    """The check before each send: one lookup, every address checked, the checked ones kept."""
    scheme, host, port, path = _split(url, field)
    _check_name(host, field)
    addresses = resolve(host, port)
    if not addresses:
        raise Unresolvable(f"cannot resolve host {host}", field=field)
    _check_addresses(host, addresses, field)
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


def _connect(target: Target, timeout: float) -> socket.socket:
    """A TCP connection to the first of the target's checked addresses that answers."""
    error: OSError | None = None
    # A name may answer with many addresses that never reply: the worker waits on a few at most.
    for address in target.addresses[:CONNECT_TRIES]:
        try:
            return socket.create_connection((address, target.port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error or OSError(f"no address for {target.host}")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to a checked address; the Host header still names the host."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self.target = target

    def connect(self):
        self.sock = _connect(self.target, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate verification for the host name."""

    def __init__(self, target: Target, timeout: float):
        self.tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self.tls)
        self.target = target

    def connect(self):
        self.sock = self.tls.wrap_socket(_connect(self.target, self.timeout), server_hostname=self.target.host)


@dataclass
class Answer:
    ok: bool
    status_code: int | None
    response: str


def post(target: Target, body: bytes, headers: dict, timeout: float) -> Answer:
    """One POST to the target's checked addresses. A 3xx is an answer, never followed."""
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = connection_class(target, timeout)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        # A UTF-8 character is at most 4 bytes: this is enough for the excerpt, never more.
        text = response.read(RESPONSE_EXCERPT * 4).decode("utf-8", "replace")[:RESPONSE_EXCERPT]
        return Answer(200 <= response.status < 300, response.status, text)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(False, None, f"{type(exc).__name__}: {exc}"[:RESPONSE_EXCERPT])
    finally:
        conn.close()

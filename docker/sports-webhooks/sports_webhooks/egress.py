"""Where deliveries may go: a check made on the very address a connection is opened to.

Webhook URLs come from API clients, so the service must not become a way into what only it can
reach: loopback, link-local and cloud metadata addresses, the Compose stack's own services, the
LAN. Only public (globally routable) addresses are allowed, plus networks the operator lists in
``SPORTS_WEBHOOKS_ALLOW_NETWORKS`` (an HA webhook on 192.168.1.0/24 is the common case).

The check runs at connect time: the resolver below is the one aiohttp connects with, so the
addresses checked are the addresses used, and a name that resolves to a public address when the
subscription is made and to 127.0.0.1 later (DNS rebinding) is refused then. IP literals skip
aiohttp's resolver, so ``check_url`` covers them before each request.

An IPv4 literal has many spellings the OS accepts (``127.1``, ``0x7f000001``, ``2130706433``,
``0177.0.0.1``); aiohttp 3.14 refuses all but the dotted quad. ``canonical_url`` rewrites them to
it when a subscription is made, so the URL stored is the one checked, shown and connected to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import ipaddress
import socket
from typing import Any, Final

import aiohttp
from aiohttp.abc import ResolveResult
from yarl import URL

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network
type Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The stack's own services (docker-compose.yml) and loopback names: never a receiver, whatever
# networks are allowed (an allowed 172.16.0.0/12 would otherwise include the Compose network).
DENIED_HOSTS: Final = frozenset(
    {"localhost", "influxdb", "dashboard", "sports-webhooks", "backups-init"}
)


class RefusedAddress(OSError):
    """The receiver's address is not one deliveries may go to; the text says why."""


class UnusableURL(ValueError):
    """The HTTP client cannot send to this URL; the text says why (never the path)."""


def parse_networks(raw: str) -> tuple[Network, ...]:
    """``"192.168.1.0/24, 10.0.0.5"`` -> networks; ValueError names the bad item."""
    out: list[Network] = []
    for item in (part.strip() for part in raw.split(",")):
        if item:
            out.append(ipaddress.ip_network(item, strict=False))
    return tuple(out)


def _unwrap(addr: Address) -> Address:
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
    return addr


def _kind(addr: Address) -> str | None:
    """Why an address is refused by default, or None when it is public."""
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_multicast:
        return "multicast"
    if addr.is_private:
        return "private"
    if addr.is_reserved or not addr.is_global:
        return "not globally routable"
    return None


_HINT: Final = "not allowed (SPORTS_WEBHOOKS_ALLOW_NETWORKS lists the networks that are)"


def refusal(addr: Address, allowed: Sequence[Network]) -> str | None:
    """None when deliveries may go to ``addr``, else what kind of address it is."""
    plain = _unwrap(addr)
    if any(plain in net or addr in net for net in allowed):
        return None
    return _kind(plain)


def literal(host: str) -> Address | None:
    """The address a host names literally, in any form the OS accepts (127.1, 0x7f000001,
    2130706433, [::ffff:127.0.0.1]), or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def canonical_url(url: str) -> str:
    """``url`` with an IPv4 literal host in dotted-quad form (``127.1`` -> ``127.0.0.1``), the
    address the OS reads it as; any other URL unchanged. UnusableURL if it has no host."""
    try:
        parsed = URL(url)
        host = parsed.raw_host
    except ValueError as err:  # yarl's text names the part (port, host), not the path
        raise UnusableURL(f"it cannot be parsed as a URL ({err})") from None
    if not parsed.absolute or not host:
        raise UnusableURL("it has no host")
    addr = literal(host.rstrip("."))
    if addr is None or addr.version == 6 or str(addr) == host:
        return url
    return str(parsed.with_host(str(addr)))


def check_url(url: str, allowed: Sequence[Network]) -> None:
    """Refuse a URL whose host is a denied name or a literal address that is not allowed."""
    try:
        host = (URL(url).raw_host or "").rstrip(".").lower()
    except ValueError:
        return  # no host aiohttp could connect to either (e.g. a malformed [IPv6] literal)
    if host in DENIED_HOSTS or host.endswith(".localhost"):
        raise RefusedAddress(f"{host} is one of the stack's own or loopback names")
    addr = literal(host)
    if addr is not None and (reason := refusal(addr, allowed)) is not None:
        raise RefusedAddress(f"{host} is a {reason} address, {_HINT}")


class CheckedResolver(aiohttp.ThreadedResolver):
    """The system resolver, keeping only addresses deliveries may go to."""

    def __init__(self, allowed: Iterable[Network]) -> None:
        super().__init__()
        self._allowed = tuple(allowed)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        check_url(f"http://{host}/", self._allowed)
        found = await super().resolve(host, port, family)
        kept = [r for r in found if refusal(ipaddress.ip_address(r["host"]), self._allowed) is None]
        if not kept:
            reason = refusal(ipaddress.ip_address(found[0]["host"]), self._allowed)
            raise RefusedAddress(f"{host} resolves to a {reason} address, {_HINT}")
        return kept


def connector(allowed: Sequence[Network], **kwargs: Any) -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(resolver=CheckedResolver(allowed), **kwargs)

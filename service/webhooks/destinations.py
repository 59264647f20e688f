"""Where webhooks may go: public addresses only, so an endpoint cannot aim the worker at
the service's own network (server-side request forgery).

A URL is checked when it is registered and again before each delivery, against every
address its host resolves to then (a name that later resolves inward is caught at
delivery). Loopback, private, link-local (cloud metadata), multicast, reserved and
unspecified addresses are refused unless YOUTHLINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS is set,
which development and the tests do.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(addresses: Iterable[str]) -> str | None:
    """Why these resolved addresses may not receive webhooks, or None when all are public."""
    found = False
    for text in addresses:
        found = True
        address: IpAddress = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return f"it resolves to {address}, which is not a public address"
    return None if found else "its host does not resolve"


async def resolve(url: str) -> list[str]:
    """Every address the URL's host resolves to now (an IP literal resolves to itself)."""
    try:  # registration refuses a malformed URL; a row stored before that rule may hold one
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return []
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


async def destination_refusal(url: str, allow_private: bool) -> str | None:
    """Why `url` may not receive webhooks now, or None."""
    if allow_private:
        return None
    return refusal(await resolve(url))

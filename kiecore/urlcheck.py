"""Which hosts result files may come from: by default only public addresses. A result URL (or a redirect)
pointing at loopback, link-local, private, multicast, reserved or unspecified addresses would let a file host
reach into the user's own machine or network."""

from __future__ import annotations

import ipaddress
import socket

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def non_public_address(host: str, port: int) -> str | None:
    """The first address ``host`` is (an IP literal) or resolves to that is not public; ``None`` if all are.

    Raises :class:`OSError` (``socket.gaierror``) if the name does not resolve and :class:`UnicodeError` if it
    cannot be encoded as a host name.
    """
    literal = _literal(host)
    addresses = [literal] if literal is not None else _resolve(host, port)
    for address in addresses:
        if not _public(address):
            return str(address)
    return None


def _literal(host: str) -> _Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[_Address]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def _public(address: _Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    special = (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return address.is_global and not special

"""SSRF guard: which addresses the crawler may connect to.

Every host is resolved (all A/AAAA records) and refused if ANY address is
forbidden. Classes, from strictest:

* ``metadata``  - link-local (169.254.0.0/16 incl. 169.254.169.254 and the ECS
  task metadata endpoint 169.254.170.2, fe80::/10) and other cloud metadata
  addresses. Always refused.
* ``loopback`` / ``multicast`` / ``unspecified`` / ``reserved`` - refused
  (loopback only allowed by the test-only ``allow_loopback`` setting).
* ``private`` - 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7. Refused
  unless CRAWLER_ALLOW_PRIVATE_NETWORKS is true.
* ``public`` - globally routable; allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Awaitable, Callable, Iterable, List, Optional
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[List[str]]]

# Always refused, whatever the settings.
_METADATA_NETS = [
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: EC2 IMDS .169.254, ECS task metadata .170.2
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::/32",  # AWS IPv6 IMDS (fd00:ec2::254), DNS, NTP
        "100.100.100.200/32",  # Alibaba Cloud metadata
    )
]
_PRIVATE_NETS = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
]
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")

FORBIDDEN_ALWAYS = {"metadata", "multicast", "unspecified", "reserved"}


class ForbiddenTarget(Exception):
    def __init__(self, host: str, address: str, kind: str):
        super().__init__(f"{host} resolves to a forbidden address ({kind})")
        self.host = host
        self.address = address
        self.kind = kind


class Unresolvable(Exception):
    pass


def _unwrap(ip: IPAddress) -> IPAddress:
    """Map IPv4 embedded in IPv6 (::ffff:a.b.c.d, NAT64 64:ff9b::/96) to IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def classify(address: str | IPAddress) -> str:
    """Return the class of one IP address (see module docstring)."""
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    ip = _unwrap(ip)
    if any(ip in n for n in _METADATA_NETS if n.version == ip.version):
        return "metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if any(ip in n for n in _PRIVATE_NETS if n.version == ip.version):
        return "private"
    if ip.is_reserved or not ip.is_global:
        # Documentation, benchmarking, 240/4, broadcast, IETF ranges ...
        return "reserved"
    return "public"


def is_allowed(kind: str, *, allow_private: bool, allow_loopback: bool = False) -> bool:
    if kind == "public":
        return True
    if kind == "private":
        return allow_private
    if kind == "loopback":
        return allow_loopback
    return False


def check_addresses(
    host: str, addresses: Iterable[str], *, allow_private: bool, allow_loopback: bool = False
) -> None:
    """Raise ForbiddenTarget if any address of ``host`` is not allowed."""
    addresses = list(addresses)
    if not addresses:
        raise Unresolvable(f"{host} has no addresses")
    for addr in addresses:
        kind = classify(addr)
        if not is_allowed(kind, allow_private=allow_private, allow_loopback=allow_loopback):
            raise ForbiddenTarget(host, addr, kind)


async def system_resolver(host: str) -> List[str]:
    """All A/AAAA addresses of ``host`` (IP literals, incl. odd forms, resolve to themselves)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"cannot resolve {host}: {exc}") from None
    return sorted({info[4][0] for info in infos})


def url_host(url: str) -> Optional[str]:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host or None


class Guard:
    """Resolves and checks hosts, caching verdicts for the life of one crawl."""

    def __init__(self, resolver: Resolver, *, allow_private: bool, allow_loopback: bool, timeout: float):
        self._resolver = resolver
        self._allow_private = allow_private
        self._allow_loopback = allow_loopback
        self._timeout = timeout
        self._cache: dict[str, List[str] | Exception] = {}

    async def check_host(self, host: str) -> List[str]:
        """The host's addresses if ALL of them are allowed; raise otherwise."""
        host = host.strip("[]").lower()
        if host not in self._cache:
            try:
                addrs = await asyncio.wait_for(self._resolver(host), self._timeout)
                check_addresses(
                    host, addrs, allow_private=self._allow_private, allow_loopback=self._allow_loopback
                )
                self._cache[host] = list(addrs)
            except asyncio.TimeoutError:
                self._cache[host] = Unresolvable(f"resolving {host} timed out")
            except (ForbiddenTarget, Unresolvable) as exc:
                self._cache[host] = exc
        result = self._cache[host]
        if isinstance(result, Exception):
            raise result
        return result

    def verdict(self, host: str) -> Optional[Exception]:
        """The error recorded for ``host`` during this crawl, if any."""
        result = self._cache.get(host.strip("[]").lower())
        return result if isinstance(result, Exception) else None

    def check_ip(self, address: str) -> None:
        """Check an address the browser actually connected to."""
        kind = classify(address)
        if not is_allowed(kind, allow_private=self._allow_private, allow_loopback=self._allow_loopback):
            raise ForbiddenTarget(address, address, kind)

"""Whether the browser reached the console over HTTPS, which decides the session cookie's `Secure` flag.

Behind a TLS-terminating proxy the gateway itself is spoken to in plain HTTP: only the proxy's
X-Forwarded-Proto says the browser used HTTPS. That header is believed only from the addresses in
SWITCHYARD_TRUSTED_PROXIES (the proxies the operator runs); from anyone else it is a client's
claim, and ignored. SWITCHYARD_CONSOLE_SECURE_COOKIE=true makes the cookie Secure whatever the
request says (for a proxy whose address is not known in advance). Both are read and checked at
start with every other setting (policies/settings.py).
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from policies.settings import current


def _from_trusted_proxy(request: Request) -> bool:
    if request.client is None:
        return False
    try:
        peer = ipaddress.ip_address(request.client.host)
    except ValueError:  # a unix socket's peer has no IP address
        return False
    return any(peer in network for network in current().trusted_proxies)


def browser_used_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    if not _from_trusted_proxy(request):
        return False
    # A chain of proxies appends: the first entry is what the browser spoke to the outermost one.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https"


def secure_cookie(request: Request) -> bool:
    return current().console_secure_cookie or browser_used_https(request)

"""The web app's guard: Host check (DNS rebinding), optional token, CSRF on state-changing requests, headers.

`Guard` is one ASGI layer around the whole app:

- **Host**: a request whose ``Host`` is not an allowed name (loopback names by default) gets 400, so a page on
  another site that rebinds its DNS name to 127.0.0.1 cannot read the app.
- **Token** (when the app has one): a request must carry it as the ``armorer_ui`` cookie, an
  ``Authorization: Bearer`` header, or (on ``GET /`` only) ``?token=``, which sets the cookie and redirects to a
  URL without it. Every comparison is constant-time (`hmac.compare_digest`). Otherwise 401.
- **CSRF**: a request other than GET/HEAD needs the ``X-CSRF-Token`` header equal to the app's secret (the page
  reads it from its own HTML, which another origin cannot read) and, when it sends ``Origin``, an allowed host.
- **Headers**: a Content-Security-Policy allowing only the app's own scripts and connections, no framing.

`check_bind` is what the CLI calls before serving: loopback is fine, any other address needs a token.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from armorer_ray.errors import ConfigError

__all__ = ["CSRF_HEADER", "LOOPBACK_HOSTS", "TOKEN_COOKIE", "Guard", "check_bind", "is_loopback"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_COOKIE = "armorer_ui"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost`` or a loopback address).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token.

    Raises:
        ConfigError: for a non-loopback ``host`` and no ``token``, or a token shorter than 16 characters.

    Example:
        >>> check_bind("127.0.0.1", None)
        >>> check_bind("0.0.0.0", None)
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: refusing to serve on 0.0.0.0 without a token: ...
    """
    if token is not None and len(token) < 16:
        raise ConfigError("the UI token must be at least 16 characters long")
    if not is_loopback(host) and token is None:
        raise ConfigError(f"refusing to serve on {host} without a token: anyone who reaches it could run tools; "
                          "pass --token (or bind to 127.0.0.1)")


def _host_name(value: str) -> str:
    if value.startswith("["):  # [::1]:8000
        return value[1:].partition("]")[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """The ASGI layer described in the module docstring.

    Args:
        app: The app to guard.
        csrf: The secret pages echo in ``X-CSRF-Token``.
        token: The access token (None: no token, for loopback use).
        hosts: Allowed ``Host`` names besides the loopback ones.
    """

    def __init__(self, app: ASGIApp, *, csrf: str, token: str | None = None, hosts: Iterable[str] = ()) -> None:
        self.app, self.csrf, self.token = app, csrf, token
        self.hosts = LOOPBACK_HOSTS | {host.lower() for host in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
        if _host_name(headers.get("host", "")).lower() not in self.hosts:
            await _plain(send, 400, "invalid Host header")
            return
        if self.token is not None:
            given = _cookie(headers.get("cookie", ""), TOKEN_COOKIE)
            bearer = headers.get("authorization", "")
            if bearer.startswith("Bearer "):
                given = bearer.removeprefix("Bearer ")
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
            if query and scope["path"] == "/" and _same(query[0], self.token):
                await _login(send, self.token)
                return
            if not _same(given, self.token):
                await _plain(send, 401, "a token is needed: open the URL the server printed (…/?token=…)")
                return
        if scope.get("method", "GET") not in _SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and (urlsplit(origin).hostname or "").lower() not in self.hosts:
                await _plain(send, 403, "cross-origin request refused")
                return
            if not _same(headers.get(CSRF_HEADER), self.csrf):
                await _plain(send, 403, "missing or wrong CSRF token")
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _login(send: Send, token: str) -> None:
    cookie = f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})

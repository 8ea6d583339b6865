"""Who is calling: authenticators map an HTTP request's headers to a `Principal` (a tenant and a user), or refuse.

Network-facing means authenticated. `BearerTokens` is the built-in authenticator; `AllowAnonymous` must be chosen
explicitly (for a laptop on loopback), so an ingress never accepts unauthenticated calls by accident. Anything
with an ``authenticate(headers)`` coroutine plugs in (an OIDC verifier, an API gateway's identity header...).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from armorer_ray.errors import ConfigError

__all__ = ["AllowAnonymous", "Authenticator", "BearerTokens", "GatewayHeaders", "Principal"]

MIN_TOKEN_CHARS = 16  # shorter secrets are guessable; refusing them at construction is cheaper than an incident


class Principal(BaseModel):
    """The authenticated caller: every call it makes runs as this tenant and user.

    Attributes:
        tenant_id: Tenant the calls are made for (None: no tenant, so tenant visibility rules show nothing
            tenant-granted).
        user_id: End user, stamped on calls and used as ``by`` when this principal resumes an approval.
        max_priority: Highest call priority this principal may ask for; higher requests are lowered to it.

    Example:
        >>> Principal(tenant_id="acme", user_id="ada").max_priority
        0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str | None = None
    user_id: str | None = None
    max_priority: int = 0


@runtime_checkable
class Authenticator(Protocol):
    """Maps a request's headers (lower-case names) to the `Principal` making it, or None to refuse it (401)."""

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """The principal these headers prove, or None when they prove nothing."""
        ...


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class BearerTokens:
    """``Authorization: Bearer <token>`` against a fixed table of tokens, each naming its principal.

    Only SHA-256 digests of the tokens are kept, and a presented token is looked up by its digest, so the lookup
    time does not depend on how much of a guess matches a real token.

    Args:
        tokens: Token to principal.

    Raises:
        ConfigError: for an empty table or a token shorter than 16 characters.

    Example:
        >>> import asyncio
        >>> auth = BearerTokens({"s3cret-token-for-ada": Principal(tenant_id="acme", user_id="ada")})
        >>> asyncio.run(auth.authenticate({"authorization": "Bearer s3cret-token-for-ada"})).tenant_id
        'acme'
        >>> asyncio.run(auth.authenticate({"authorization": "Bearer wrong"})) is None
        True
    """

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        if not tokens:
            raise ConfigError("BearerTokens needs at least one token")
        short = [principal for token, principal in tokens.items() if len(token) < MIN_TOKEN_CHARS]
        if short:
            raise ConfigError(f"bearer tokens must be at least {MIN_TOKEN_CHARS} characters; "
                              f"{len(short)} token(s) are shorter (for {short[0]!r})")
        self._by_digest = {_digest(token): principal for token, principal in tokens.items()}

    def __repr__(self) -> str:
        return f"BearerTokens({len(self._by_digest)} tokens)"

    @classmethod
    def from_file(cls, path: str | Path) -> BearerTokens:
        """Read ``{"<token>": {"tenant_id": ..., "user_id": ...}, ...}`` from a JSON file (a mounted Secret).

        Raises:
            ConfigError: when the file is missing, is not such an object, or holds a short token.
        """
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read bearer tokens from {str(path)!r}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{str(path)!r} must hold a JSON object mapping each token to its principal")
        try:
            return cls({str(token): Principal.model_validate(value) for token, value in raw.items()})
        except ValidationError as exc:
            raise ConfigError(f"{str(path)!r} has an invalid principal: {exc}") from exc

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._by_digest.get(_digest(token.strip()))


class GatewayHeaders:
    """Behind an API gateway that authenticates end users: the gateway proves itself with a shared bearer secret
    and names the tenant and user in headers, which are believed only on requests carrying that secret.

    Args:
        gateway_token: The secret the gateway sends as ``Authorization: Bearer <secret>`` (16+ characters).
        tenant_header: Header naming the tenant; a request without it is refused.
        user_header: Header naming the user (optional on a request).

    Raises:
        ConfigError: for a secret shorter than 16 characters.

    Example:
        >>> import asyncio
        >>> auth = GatewayHeaders("gateway-secret-0123456789")
        >>> headers = {"authorization": "Bearer gateway-secret-0123456789", "x-tenant-id": "acme", "x-user-id": "ada"}
        >>> asyncio.run(auth.authenticate(headers))
        Principal(tenant_id='acme', user_id='ada', max_priority=0)
        >>> asyncio.run(auth.authenticate({**headers, "authorization": "Bearer forged"})) is None
        True
    """

    def __init__(self, gateway_token: str, *, tenant_header: str = "x-tenant-id",
                 user_header: str = "x-user-id") -> None:
        self._gateway = BearerTokens({gateway_token: Principal()})
        self.tenant_header = tenant_header.lower()
        self.user_header = user_header.lower()

    def __repr__(self) -> str:
        return f"GatewayHeaders(tenant_header={self.tenant_header!r}, user_header={self.user_header!r})"

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        tenant = headers.get(self.tenant_header, "").strip()
        if not tenant or await self._gateway.authenticate(headers) is None:
            return None
        return Principal(tenant_id=tenant, user_id=headers.get(self.user_header, "").strip() or None)


class AllowAnonymous:
    """Accepts every request as one fixed principal. For a laptop on loopback only: it authenticates nobody.

    Example:
        >>> import asyncio
        >>> asyncio.run(AllowAnonymous(Principal(user_id="me")).authenticate({})).user_id
        'me'
    """

    def __init__(self, principal: Principal | None = None) -> None:
        self.principal = principal or Principal()

    def __repr__(self) -> str:
        return f"AllowAnonymous({self.principal!r})"

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        return self.principal

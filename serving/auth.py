"""Bearer tokens from the environment: admin/push need LARDER_ADMIN_TOKEN (disabled without
it, never open); read endpoints need LARDER_READ_TOKEN only when it is set."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import SecretStr

bearer = HTTPBearer(auto_error=False, description="LARDER_ADMIN_TOKEN or LARDER_READ_TOKEN")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def require_admin(request: Request, credentials: Credentials) -> None:
    token = request.app.state.settings.admin_token
    if token is None:
        raise HTTPException(
            403, "push and admin endpoints are disabled: start the server with LARDER_ADMIN_TOKEN"
        )
    _require(request, token, "LARDER_ADMIN_TOKEN")


async def require_reader(request: Request, credentials: Credentials) -> None:
    token = request.app.state.settings.read_token
    if token is not None:
        _require(request, token, "LARDER_READ_TOKEN")


def reader_allowed(authorization: str | None, token: SecretStr | str | None) -> bool:
    """Whether an `Authorization` header passes for the read token (None: reads are open)."""
    return token is None or allowed(authorization, token)


def allowed(authorization: str | None, token: SecretStr | str) -> bool:
    """The one decision on a bearer token, for the routes' dependencies and the fast path
    (serving/fastpath.py) alike: `Authorization: Bearer <token>`, read as HTTPBearer reads
    it, compared in constant time."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return False
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    return hmac.compare_digest(credentials.encode(), secret.encode())


def _require(request: Request, token: SecretStr | str, name: str) -> None:
    # `credentials` (HTTPBearer) stays in the dependencies' signatures for the OpenAPI docs'
    # security scheme; the decision is `allowed`, on the header itself.
    if not allowed(request.headers.get("authorization"), token):
        raise HTTPException(
            401,
            f"send the server's {name} as `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminAuth = Depends(require_admin)
ReadAuth = Depends(require_reader)

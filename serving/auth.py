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
    _check(credentials, token, "LARDER_ADMIN_TOKEN")


async def require_reader(request: Request, credentials: Credentials) -> None:
    token = request.app.state.settings.read_token
    if token is not None:
        _check(credentials, token, "LARDER_READ_TOKEN")


def reader_allowed(authorization: str | None, token: SecretStr | str | None) -> bool:
    """Whether an `Authorization` header passes `require_reader`, read as HTTPBearer reads it."""
    if token is None:
        return True
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return False
    return _matches(credentials, token)


def _matches(given: str, token: SecretStr | str) -> bool:
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    return hmac.compare_digest(given.encode(), secret.encode())


def _check(
    credentials: HTTPAuthorizationCredentials | None, token: SecretStr | str, name: str
) -> None:
    if not _matches(credentials.credentials if credentials else "", token):
        raise HTTPException(
            401,
            f"send the server's {name} as `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminAuth = Depends(require_admin)
ReadAuth = Depends(require_reader)

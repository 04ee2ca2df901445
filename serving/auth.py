"""Bearer tokens from the environment: admin/push need FLIGHTS_ADMIN_TOKEN (disabled without
it, never open); read endpoints need FLIGHTS_READ_TOKEN only when it is set."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

bearer = HTTPBearer(auto_error=False, description="FLIGHTS_ADMIN_TOKEN or FLIGHTS_READ_TOKEN")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require_admin(request: Request, credentials: Credentials) -> None:
    token = request.app.state.settings.admin_token
    if token is None:
        raise HTTPException(
            403, "push and admin endpoints are disabled: start the server with FLIGHTS_ADMIN_TOKEN"
        )
    _check(credentials, token, "FLIGHTS_ADMIN_TOKEN")


def require_reader(request: Request, credentials: Credentials) -> None:
    token = request.app.state.settings.read_token
    if token is not None:
        _check(credentials, token, "FLIGHTS_READ_TOKEN")


def _check(
    credentials: HTTPAuthorizationCredentials | None, token: SecretStr | str, name: str
) -> None:
    given = credentials.credentials.encode() if credentials else b""
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    if not hmac.compare_digest(given, secret.encode()):
        raise HTTPException(
            401,
            f"send the server's {name} as `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminAuth = Depends(require_admin)
ReadAuth = Depends(require_reader)

"""Auth's HTTP routes: parse, authorise, call the service, shape the reply.

Wire names are the original system's (camelCase). Bodies refuse unknown fields and coerce no
types, so a typo or a number where text belongs is a 422 naming the field, never a user row.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from vendyz.auth.service import AuthService, User
from vendyz.core.envelope import Envelope, envelope
from vendyz.core.identity import CurrentUser, Sessions
from vendyz.core.tokens import Role
from vendyz.core.web import create_app

# The WHATWG (HTML <input type=email>) grammar, with a dot required in the domain.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _normalise_email(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


LoginEmail = Annotated[
    StrictStr, BeforeValidator(_normalise_email), Field(min_length=1, max_length=254)
]
NewEmail = Annotated[
    StrictStr,
    Field(min_length=1, max_length=254, pattern=EMAIL_PATTERN),
    BeforeValidator(_normalise_email),
]
NewPassword = Annotated[StrictStr, Field(min_length=8, max_length=128)]
Name = Annotated[StrictStr, BeforeValidator(_strip), Field(min_length=1, max_length=100)]

_USER_EXAMPLE: dict[str, Any] = {
    "userId": "7b0c1a52-3f6e-4b8e-9a51-2d7f0c9e4a11",
    "email": "shopper@example.com",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "role": "USER",
}


class Register(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "shopper@example.com",
                    "password": "correct-horse-battery",
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                }
            ]
        },
    )

    email: NewEmail = Field(description="Stored trimmed and lowercased; at most 254 characters")
    password: NewPassword = Field(description="8 to 128 characters")
    # Wire names of the original API, camelCase included.
    firstName: Name
    lastName: Name


class Login(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "lead@vendyz.dev", "password": "flashsale"}]},
    )

    email: LoginEmail
    password: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class UserOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_USER_EXAMPLE]})

    userId: str  # wire names of the original API
    email: str
    firstName: str
    lastName: str
    role: Role


class LoginOut(UserOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "eyJhbGciOiJIUzI1NiIs...", **_USER_EXAMPLE}]}
    )

    token: str = Field(description="Send as `Authorization: Bearer <token>`")


class LogoutOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"revoked": True}]})

    revoked: bool


def _user_out(user: User) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "role": user.role,
    }


def _event(request: Request) -> dict[str, Any]:
    event: dict[str, Any] = request.scope.get("aws.event") or {}
    return event


def _client_address(request: Request) -> str:
    http = (_event(request).get("requestContext") or {}).get("http") or {}
    address = http.get("sourceIp") or (request.client.host if request.client else "")
    return str(address or "unknown")


_ERROR = {"model": Envelope[None]}


def create_auth_app(service: AuthService, sessions: Sessions) -> FastAPI:
    router = APIRouter(prefix="/auth", tags=["auth"])

    @router.post(
        "/register",
        operation_id="register",
        status_code=201,
        response_model=Envelope[UserOut],
        responses={
            409: {**_ERROR, "description": "The email already has an account"},
            429: {**_ERROR, "description": "Too many registrations from this address"},
            422: {**_ERROR, "description": "A field is missing, unknown or invalid"},
        },
    )
    async def register(body: Register, request: Request) -> dict[str, Any]:
        """Create a shopper account (role USER)."""
        user = service.register(
            email=body.email,
            password=body.password,
            first_name=body.firstName,
            last_name=body.lastName,
            client_address=_client_address(request),
        )
        return envelope(_user_out(user), "User registered")

    @router.post(
        "/login",
        operation_id="login",
        response_model=Envelope[LoginOut],
        responses={
            401: {**_ERROR, "description": "Wrong email or password (one message for both)"},
            429: {**_ERROR, "description": "Too many failed logins; see Retry-After"},
        },
    )
    async def login(body: Login, request: Request) -> dict[str, Any]:
        """Exchange email and password for a bearer token."""
        session = service.login(
            email=body.email, password=body.password, client_address=_client_address(request)
        )
        return envelope({"token": session.token.token, **_user_out(session.user)}, "Logged in")

    @router.post(
        "/logout",
        operation_id="logout",
        response_model=Envelope[LogoutOut],
        responses={401: {**_ERROR, "description": "No valid token"}},
    )
    async def logout(user: CurrentUser) -> dict[str, Any]:
        """Revoke the token of this request; it is refused from the next request on."""
        service.logout(user_id=user.user_id, jti=user.token_id, exp=user.token_expires_at)
        return envelope({"revoked": True}, "Logged out")

    @router.get(
        "/me",
        operation_id="getCurrentUser",
        response_model=Envelope[UserOut],
        responses={401: {**_ERROR, "description": "No valid token"}},
    )
    async def me(user: CurrentUser) -> dict[str, Any]:
        """The caller's account, read from the database."""
        return envelope(_user_out(service.get_user(user.user_id)))

    return create_app("Vendyz auth", [router], sessions=sessions)

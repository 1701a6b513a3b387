"""OpenID Connect provider emulator (the authorization code flow with PKCE, as Okta/Entra ID/Keycloak run it).

Speaks OpenID Connect Core 1.0 and Discovery 1.0: ``GET /.well-known/openid-configuration``,
``GET /jwks`` (RS256 public key with ``kid``), ``GET /authorize`` (``response_type=code``, registered
``client_id`` and exact ``redirect_uri``, ``state`` passed back, ``nonce`` and the S256
``code_challenge`` bound to the code; errors go back to the client as ``error=...&state=...`` once the
redirect URI is trusted, and as 400 before that), ``POST /token`` (``client_secret_basic`` or
``client_secret_post``; one-time codes that expire after 60 s; PKCE verifier checked; answers
``invalid_grant``/``invalid_client`` as RFC 6749 §5.2 says) returning a signed ID token (``iss``, ``sub``,
``aud``, ``exp``, ``iat``, ``nonce``, ``email``, ``email_verified``, ``name`` and the groups claim), and
``GET /userinfo`` with the bearer access token.

Control endpoints besides the harness's: ``POST /_login`` with the claims of the person who is signed in at
the provider (``{"sub", "email", "name", "groups", "email_verified"}``) or ``{"deny": true}`` (the person
refuses consent), and ``POST /_forge`` ``{"on": true}`` to sign ID tokens with a key the JWKS does not
publish (a forged token the client must reject).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.emulators.harness import EmulatorState, build_emulator_app

CODE_TTL_S = 60
ID_TOKEN_TTL_S = 300


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    claims: dict[str, Any]
    issued_at: float = field(default_factory=time.monotonic)


@dataclass
class OidcProvider:
    """The provider's registered client, signing keys, and who is signed in at it."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    signing_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "emulator-1"}))
    forged_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "emulator-1"}))
    forge: bool = False
    signed_in: dict[str, Any] | None = None
    deny: bool = False
    codes: dict[str, _Grant] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None, None
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def _pkce_ok(challenge: str | None, verifier: str | None) -> bool:
    if challenge is None:
        return verifier is None
    if not verifier:
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return secrets.compare_digest(digest, challenge)


def build_oidc_emulator(
    *, client_id: str, client_secret: str, redirect_uris: tuple[str, ...]
) -> tuple[FastAPI, EmulatorState, OidcProvider]:
    """An OpenID provider with one registered confidential client."""
    app, state = build_emulator_app("oidc")
    provider = OidcProvider(client_id, client_secret, redirect_uris)

    def issuer(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.get("/.well-known/openid-configuration")
    def discovery(request: Request) -> dict[str, Any]:
        base = issuer(request)
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name", "groups"],
        }

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [provider.signing_key.as_dict(private=False, use="sig", alg="RS256")]}

    @app.get("/authorize")
    def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != provider.client_id:
            return _error(400, "invalid_client", "unknown client_id")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in provider.redirect_uris:
            return _error(400, "invalid_request", "redirect_uri is not registered for this client")

        def back(**params: str) -> RedirectResponse:
            if q.get("state") is not None:
                params["state"] = q["state"]
            return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if "openid" not in q.get("scope", "").split():
            return back(error="invalid_scope", error_description="openid scope required")
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            return back(error="invalid_request", error_description="only S256 is supported")
        if provider.deny:
            return back(error="access_denied", error_description="The user denied the request")
        if provider.signed_in is None:
            return back(error="login_required")
        code = secrets.token_urlsafe(24)
        provider.codes[code] = _Grant(
            provider.client_id,
            redirect_uri,
            q.get("nonce"),
            q.get("code_challenge"),
            dict(provider.signed_in),
        )
        return back(code=code)

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id, secret = _client_credentials(request, form)
        if client_id != provider.client_id or not secrets.compare_digest(
            secret or "", provider.client_secret
        ):
            return _error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type", "only authorization_code")
        grant = provider.codes.pop(form.get("code", ""), None)
        if grant is None or time.monotonic() - grant.issued_at > CODE_TTL_S:
            return _error(400, "invalid_grant", "unknown, used or expired code")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _error(400, "invalid_grant", "redirect_uri does not match the authorization request")
        if not _pkce_ok(grant.code_challenge, form.get("code_verifier")):
            return _error(400, "invalid_grant", "PKCE verification failed")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer(request),
            "aud": grant.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL_S,
            "email_verified": True,
            **grant.claims,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        key = provider.forged_key if provider.forge else provider.signing_key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        access_token = secrets.token_urlsafe(24)
        provider.access_tokens[access_token] = grant.claims
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
                "scope": "openid email profile",
            },
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/userinfo")
    def userinfo(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        claims = provider.access_tokens.get(header.removeprefix("Bearer ").strip())
        if claims is None:
            return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return JSONResponse(claims)

    @app.post("/_login")
    async def login(request: Request) -> dict[str, bool]:
        payload = await request.json()
        provider.deny = bool(payload.pop("deny", False))
        provider.signed_in = payload or None
        return {"ok": True}

    @app.post("/_forge")
    async def forge(request: Request) -> dict[str, bool]:
        provider.forge = bool((await request.json()).get("on"))
        return {"ok": True}

    return app, state, provider

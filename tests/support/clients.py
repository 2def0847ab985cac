"""Client declarations several per-family test files start from."""

from __future__ import annotations

#: a confidential web app: authorization code with refresh tokens, two redirect URIs
WEB = {
    "client_name": "Billing Web",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "redirect_uris": ["https://billing.example.com/callback", "https://billing.example.com/cb2"],
    "scope": "openid offline_access",
    "token_endpoint_auth_method": "client_secret_basic",
}

"""Where each portable field lives in a Keycloak client: the tables `mapping` reads and writes
by, what Keycloak cannot hold, and the defaults a removed line is reset to. Data only."""

from __future__ import annotations

from typing import Any

from dcrsync.guards.answers import FLAG, ID, OBJECTS, TEXT, TEXT_MAP, TEXTS, Shape, misfit

#: dcrsync's ownership marker: two client attributes
MARKER_NAME = "dcrsync.name"
MARKER_OWNER = "dcrsync.owner"
MARKER_PROJECT = "dcrsync.project"
MARKER_SERIAL = "dcrsync.serial"  # the serial of the state the writing apply committed, as a string
MARKER_ATTRS = (MARKER_NAME, MARKER_OWNER, MARKER_PROJECT, MARKER_SERIAL)

#: portable field -> Keycloak client attribute holding it as a plain string
ATTR_FIELDS: dict[str, str] = {
    "logo_uri": "logoUri",
    "policy_uri": "policyUri",
    "tos_uri": "tosUri",
    "backchannel_logout_uri": "backchannel.logout.url",
    "token_endpoint_auth_signing_alg": "token.endpoint.auth.signing.alg",
    "id_token_signed_response_alg": "id.token.signed.response.alg",
    "id_token_encrypted_response_alg": "id.token.encrypted.response.alg",
    "id_token_encrypted_response_enc": "id.token.encrypted.response.enc",
    "userinfo_signed_response_alg": "user.info.response.signature.alg",
    "userinfo_encrypted_response_alg": "user.info.encrypted.response.alg",
    "userinfo_encrypted_response_enc": "user.info.encrypted.response.enc",
    "request_object_signing_alg": "request.object.signature.alg",
    "request_object_encryption_alg": "request.object.encryption.alg",
    "request_object_encryption_enc": "request.object.encryption.enc",
    "tls_client_auth_subject_dn": "x509.subjectdn",
    # JARM (Keycloak's OIDC advanced settings: authorization response signature / encryption)
    "authorization_signed_response_alg": "authorization.signed.response.alg",
    "authorization_encrypted_response_alg": "authorization.encrypted.response.alg",
    "authorization_encrypted_response_enc": "authorization.encrypted.response.enc",
    # informational metadata: Keycloak keeps it as an attribute, as given
    "software_id": "software_id",
    "software_version": "software_version",
}

#: portable boolean field -> the client attribute Keycloak keeps it in, as "true"/"false"
BOOL_ATTR_FIELDS: dict[str, str] = {
    "require_pushed_authorization_requests": "require.pushed.authorization.requests",
    "dpop_bound_access_tokens": "dpop.bound.access.tokens",
    "tls_client_certificate_bound_access_tokens": "tls.client.certificate.bound.access.tokens",
    "backchannel_logout_session_required": "backchannel.logout.session.required",
    "frontchannel_logout_session_required": "frontchannel.logout.session.required",
}

#: `require_pkce: true` is this attribute set to S256 (RFC 9700: S256 only; `plain` is never written)
PKCE_FIELD = "require_pkce"
PKCE_ATTR = "pkce.code.challenge.method"

#: portable list field -> attribute holding it `##`-separated (Keycloak's own list encoding)
LIST_ATTR_FIELDS: dict[str, str] = {
    "post_logout_redirect_uris": "post.logout.redirect.uris",
    "request_uris": "request.uris",
    "default_acr_values": "default.acr.values",
    "contacts": "contacts",
}

#: grant type -> the top-level switch that enables it
GRANT_FLAGS: dict[str, str] = {
    "authorization_code": "standardFlowEnabled",
    "implicit": "implicitFlowEnabled",
    "password": "directAccessGrantsEnabled",
    "client_credentials": "serviceAccountsEnabled",
}

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
CIBA = "urn:openid:params:grant-type:ciba"

#: grant type -> the attribute that enables it ("true"/"false"; absent means false)
GRANT_ATTRS: dict[str, str] = {
    DEVICE_CODE: "oauth2.device.authorization.grant.enabled",
    TOKEN_EXCHANGE: "standard.token.exchange.enabled",
    CIBA: "oidc.ciba.grant.enabled",
}

#: refresh tokens are on unless this attribute says "false"
REFRESH_ATTR = "use.refresh.tokens"

#: token_endpoint_auth_method -> clientAuthenticatorType (`none` is `publicClient: true`)
AUTHENTICATORS: dict[str, str] = {
    "client_secret_basic": "client-secret",
    "client_secret_post": "client-secret",
    "client_secret_jwt": "client-secret-jwt",
    "private_key_jwt": "client-jwt",
    "tls_client_auth": "client-x509",
}

AUTH_METHODS: dict[str, str] = {
    "client-secret": "client_secret_basic",  # Keycloak's client-secret takes basic and post alike
    "client-secret-jwt": "client_secret_jwt",
    "client-jwt": "private_key_jwt",
    "client-x509": "tls_client_auth",
}

#: declared fields Keycloak has nothing to hold in, with what to do instead
UNSUPPORTED: dict[str, str] = {
    "application_type": "Keycloak has no application type; remove it",
    "sector_identifier_uri": "Keycloak keeps it in a pairwise protocol mapper, which dcrsync does not manage",
    "default_max_age": "Keycloak has no per-client default max_age; remove it",
    "require_auth_time": "Keycloak has no per-client require_auth_time; remove it",
    "initiate_login_uri": "Keycloak has no initiate_login_uri; remove it",
    "tls_client_auth_san_dns": "Keycloak matches only the subject DN: use tls_client_auth_subject_dn",
    "tls_client_auth_san_uri": "Keycloak matches only the subject DN: use tls_client_auth_subject_dn",
    "tls_client_auth_san_ip": "Keycloak matches only the subject DN: use tls_client_auth_subject_dn",
    "tls_client_auth_san_email": "Keycloak matches only the subject DN: use tls_client_auth_subject_dn",
}

#: representation keys never read into fields nor accepted in the `keycloak:` block
RESERVED_KEYS = frozenset({"id", "clientId", "secret", "registrationAccessToken", "access"})

#: representation keys Keycloak does not take in a client PUT: refused in the `keycloak:` block
UNMANAGED_KEYS = {
    "authorizationSettings": "authorization services have their own admin endpoints, which dcrsync does not manage",
}

#: a new client's value of top-level keys a `keycloak:` block may set (for a removed line)
KEYCLOAK_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "consentRequired": False,
    "fullScopeAllowed": True,
    "bearerOnly": False,
    "surrogateAuthRequired": False,
    "alwaysDisplayInConsole": False,
    "frontchannelLogout": True,
    "webOrigins": [],
    "rootUrl": "",
    "adminUrl": "",
    "description": "",
    "notBefore": 0,
    "nodeReRegistrationTimeout": -1,
}

#: RFC 7591's defaults, where resetting a portable field means writing a value
PORTABLE_DEFAULTS: dict[str, Any] = {
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
}


#: what dcrsync reads of a client representation, by shape (anything else is kept as the server sent it)
MAPPERS = Shape("a list of protocol mappers (objects with text names and an object `config`)", lambda v: (
    OBJECTS.fits(v) and all(isinstance(m.get("config") or {}, dict) and not misfit(m, MAPPER) for m in v)))
MAPPER = {key: TEXT for key in ("id", "name", "protocol", "protocolMapper")}
SHAPES: dict[str, Shape] = {
    "id": ID, "clientId": ID, "attributes": TEXT_MAP, "protocolMappers": MAPPERS,
    **{key: TEXT for key in ("name", "baseUrl", "clientAuthenticatorType", "protocol", "secret")},
    **{key: TEXTS for key in ("redirectUris", "webOrigins", "defaultClientScopes", "optionalClientScopes")},
    **{key: FLAG for key in ("publicClient", "bearerOnly", "standardFlowEnabled", "implicitFlowEnabled",
                             "directAccessGrantsEnabled", "serviceAccountsEnabled", "frontchannelLogout")},
}

# The OAuth 2.0 Security Best Current Practice (RFC 9700) over dcrsync's machine output, for teams
# that already run OPA or conftest. The same rules as dcrsync's `lint: {profile: rfc9700}`, with the
# same ids, so a finding reads the same in both.
#
# Input: `dcrsync validate --format json` (its `declared` clients; schemas/validate.schema.json) or
# `dcrsync plan --format json` / a saved plan (its changes' `desired`; schemas/plan.schema.json).
#
#   dcrsync validate --format json > validate.json
#   opa eval -d examples/policy -i validate.json 'data.dcrsync.rfc9700.deny'
#   conftest test --namespace dcrsync.rfc9700 --policy examples/policy validate.json
#
# Each denial is a string: `DCR0NN NAME (FILE:LINE:COL): what is wrong`.
package dcrsync.rfc9700

# The clients to check: {name, source, desired, server_kind} from either input.
clients contains {"name": c.name, "source": c.source, "desired": c.desired, "kind": input.server_kind} if {
	some c in input.declared
}

clients contains {"name": c.name, "source": object.get(c, "source", "plan"), "desired": c.desired, "kind": input.server.kind} if {
	some c in input.changes
	c.action in {"create", "update", "move", "rotate", "replace"}
	c.desired
}

grants(d) := d.grant_types if d.grant_types
grants(d) := ["authorization_code"] if not d.grant_types

auth_method(d) := object.get(d, "token_endpoint_auth_method", "client_secret_basic")

# PKCE asked for: require_pkce, or Keycloak's own attribute at S256 (with no require_pkce line).
pkce(d) if d.require_pkce == true

pkce(d) if {
	not "require_pkce" in object.keys(d)
	d.keycloak.attributes["pkce.code.challenge.method"] == "S256"
}

redirects(d) := array.concat(object.get(d, "redirect_uris", []), object.get(d, "post_logout_redirect_uris", []))

http_host(uri) := lower(m[0][1]) if {
	m := regex.find_all_string_submatch_n(`^[hH][tT][tT][pP]://(?:[^@/]*@)?(\[[^\]]*\]|[^/:?#]*)`, uri, 1)
	count(m) == 1
}

loopback_literal := {"127.0.0.1", "[::1]"}

where(c) := sprintf("%s (%s)", [c.name, c.source])

deny contains msg if {
	some c in clients
	"implicit" in grants(c.desired)
	msg := sprintf("DCR007 %s: the implicit grant must not be used (RFC 9700 §2.1.2): use authorization_code with PKCE", [where(c)])
}

deny contains msg if {
	some c in clients
	"password" in grants(c.desired)
	msg := sprintf("DCR010 %s: the password grant must not be used (RFC 9700 §2.4)", [where(c)])
}

deny contains msg if {
	some c in clients
	"authorization_code" in grants(c.desired)
	auth_method(c.desired) == "none"
	not pkce(c.desired)
	msg := sprintf("DCR008 %s: public client without PKCE: require_pkce: true (RFC 9700 §2.1.1)", [where(c)])
}

deny contains msg if {
	some c in clients
	"authorization_code" in grants(c.desired)
	auth_method(c.desired) != "none"
	not pkce(c.desired)
	msg := sprintf("DCR014 %s: authorization-code client without PKCE: require_pkce: true (RFC 9700 §2.1.1)", [where(c)])
}

deny contains msg if {
	some c in clients
	some uri in redirects(c.desired)
	contains(uri, "*")
	msg := sprintf("DCR011 %s: redirect URI %q is not exact: list each exact URI (RFC 9700 §4.1.3)", [where(c), uri])
}

deny contains msg if {
	some c in clients
	some uri in redirects(c.desired)
	http_host(uri) == "localhost"
	msg := sprintf("DCR015 %s: redirect URI %q uses localhost: use the loopback IP literal 127.0.0.1 (RFC 8252 §8.3)", [where(c), uri])
}

deny contains msg if {
	some c in clients
	some uri in redirects(c.desired)
	host := http_host(uri)
	host != "localhost"
	not host in loopback_literal
	msg := sprintf("DCR003 %s: redirect URI %q uses plain http: use https (RFC 9700 §2.1)", [where(c), uri])
}

sender_constrained(d) if d.dpop_bound_access_tokens == true

sender_constrained(d) if d.tls_client_certificate_bound_access_tokens == true

# Hydra rotates every refresh token on use; elsewhere dcrsync.yaml says so (lint.refresh_token_rotation).
rotated(c) if c.kind == "hydra"

rotated(_) if is_string(input.refresh_token_rotation)

deny contains msg if {
	some c in clients
	auth_method(c.desired) == "none"
	"refresh_token" in grants(c.desired)
	not sender_constrained(c.desired)
	not rotated(c)
	msg := sprintf("DCR016 %s: public client's refresh tokens are neither sender-constrained nor rotated (RFC 9700 §4.14.2)", [where(c)])
}

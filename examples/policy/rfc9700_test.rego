# `opa test examples/policy`: the RFC 9700 library on small inputs shaped like dcrsync's output.
package dcrsync.rfc9700_test

import data.dcrsync.rfc9700

validate_input(desired) := {
	"version": 1,
	"server_kind": "keycloak",
	"declared": [{"name": "app", "source": "clients/app.yaml:1:1", "labels": {}, "desired": desired}],
}

ids(denials) := {substring(d, 0, 6) | some d in denials}

test_a_conforming_confidential_client_passes if {
	desired := {
		"grant_types": ["authorization_code", "refresh_token"],
		"redirect_uris": ["https://app.example.com/cb", "http://127.0.0.1:8080/cb"],
		"require_pkce": true,
	}
	count(rfc9700.deny) == 0 with input as validate_input(desired)
}

test_implicit_and_password_grants_are_denied if {
	desired := {"grant_types": ["implicit", "password"], "redirect_uris": ["https://app.example.com/cb"]}
	ids(rfc9700.deny) == {"DCR007", "DCR010"} with input as validate_input(desired)
}

test_code_clients_need_pkce_public_or_not if {
	ids(rfc9700.deny) == {"DCR014"} with input as validate_input({"redirect_uris": ["https://a.example.com/cb"]})
	public := {"redirect_uris": ["https://a.example.com/cb"], "token_endpoint_auth_method": "none"}
	ids(rfc9700.deny) == {"DCR008"} with input as validate_input(public)
	keycloak := {"redirect_uris": ["https://a.example.com/cb"], "keycloak": {"attributes": {"pkce.code.challenge.method": "S256"}}}
	count(rfc9700.deny) == 0 with input as validate_input(keycloak)
}

test_redirects_exact_https_and_loopback_literals if {
	desired := {
		"require_pkce": true,
		"redirect_uris": ["https://*.example.com/cb", "http://localhost:3000/cb", "http://app.example.com/cb", "http://[::1]:9/cb"],
	}
	denials := rfc9700.deny with input as validate_input(desired)
	ids(denials) == {"DCR011", "DCR015", "DCR003"}
	count(denials) == 3
}

test_public_refresh_tokens_rotated_on_hydra_only if {
	spa := {
		"grant_types": ["authorization_code", "refresh_token"], "redirect_uris": ["https://spa.example.com/cb"],
		"token_endpoint_auth_method": "none", "require_pkce": true,
	}
	ids(rfc9700.deny) == {"DCR016"} with input as validate_input(spa)
	count(rfc9700.deny) == 0 with input as object.union(validate_input(spa), {"server_kind": "hydra"})
	count(rfc9700.deny) == 0 with input as validate_input(object.union(spa, {"dpop_bound_access_tokens": true}))
	said := object.union(validate_input(spa), {"refresh_token_rotation": "Revoke Refresh Token on, max reuse 0"})
	count(rfc9700.deny) == 0 with input as said
	ids(rfc9700.deny) == {"DCR016"} with input as object.union(validate_input(spa), {"refresh_token_rotation": null})
}

test_a_plan_is_read_by_its_changes_desired_and_deletes_are_skipped if {
	plan := {
		"version": 1,
		"server": {"kind": "keycloak", "url": "http://127.0.0.1:8080/admin/realms/apps"},
		"changes": [
			{"action": "create", "name": "new", "source": "clients/new.yaml:1:1", "desired": {"grant_types": ["password"]}},
			{"action": "delete", "name": "old", "client_id": "x"},
		],
	}
	rfc9700.deny == {"DCR010 new (clients/new.yaml:1:1): the password grant must not be used (RFC 9700 §2.4)"} with input as plan
}

"""`dcrsync audit`: the server's posture and its live clients, in git or not, against the lint
profile's security rules and the organisation policy. Read-only.

The package: `posture` (what discovery still offers; a Keycloak realm's client policies), `clients`
(live clients read as files and judged), `report` (the result, its JSON), `read` (the I/O: GETs only).

May import: the ground, load, state, net, backends, lint, plan, policy, project.
"""

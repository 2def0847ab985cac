"""The Keycloak family: the admin REST API (`backend`), its admin tokens (`auth`), where each portable
field lives in a Keycloak client (`fields`, `mapping`) and what it cannot hold (`limits`), the scopes, protocol mappers and roles a client
PUT does not carry (`objects`, `scopes`, `roles`), a client's secret read, regenerated and retired
(`secret`), and the realm's secret-rotation policies (`rotation`).

The mapping modules are pure; the rest talks to Keycloak. May import what `backends` may.
"""

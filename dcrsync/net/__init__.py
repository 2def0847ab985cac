"""Talking to servers over HTTP: one httpx client factory with timeouts, a deadline and a cap on what
an answer may weigh (`http`), the trust rule applied at the transport every request passes (`gate`),
and one rate limiter per server shared by every worker (`ratelimit`).

May import: the ground.
"""

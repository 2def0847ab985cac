"""The stable machine contract: `schemas/plan.schema.json`."""

from __future__ import annotations

from dcrsync.plan import Plan


def render(plan: Plan) -> str:
    return plan.to_json()

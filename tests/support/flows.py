"""Small Flow IR documents for the validator's rule tests: build one, then break exactly one thing."""

from __future__ import annotations

import itertools
from typing import Any


def node(alias: str, effects: str = "pure", determinism: str = "strict", **extra: Any) -> dict[str, Any]:
    """A node that passes every rule on its own (opaque schemas, no hints)."""
    return {
        "id": f"f::{alias}",
        "alias": alias,
        "identifier": f"example::{alias}",
        "name": alias.title(),
        "kind": "inline",
        "in_schema": {"kind": "opaque"},
        "out_schema": {"kind": "opaque"},
        "effects": effects,
        "determinism": determinism,
        **extra,
    }


def edge(a: str, b: str, delivery: str = "at_least_once", **extra: Any) -> dict[str, Any]:
    buffer = extra.pop("buffer", {})
    return {"from": a, "to": b, "delivery": delivery, "ordering": "ordered", "buffer": buffer, **extra}


def flow(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": "f",
        "name": "f",
        "version": "0.1.0",
        "profile": "dev",
        "nodes": list(nodes),
        "edges": list(edges or []),
        **extra,
    }


def dedupe_consumer(alias: str = "consume", **idempotency: Any) -> dict[str, Any]:
    """An exactly-once target done right: a Dedupe ledger, a key and a long enough TTL."""
    return node(
        alias,
        "effectful",
        "best_effort",
        idempotency={"key": "job_id", "ttlMs": 300_000, **idempotency},
        effectHints=["resource::dedupe::write"],
    )


def chain(*aliases: str, delivery: str = "at_least_once") -> dict[str, Any]:
    """A straight line of pure nodes."""
    return flow([node(a) for a in aliases], [edge(a, b, delivery) for a, b in itertools.pairwise(aliases)])


def every_rule_broken() -> dict[str, Any]:
    """One document that breaks many rules at once (two triggers, a duplicate alias, a hint on a pure node,
    a cycle, a dangling edge, an exactly-once edge without a ledger, a zero timeout, a zero-item disk
    buffer): what the input and output tests both feed the validator."""
    return flow(
        [
            {**node("t"), "kind": "trigger"},
            {**node("u"), "kind": "trigger"},
            node("a", effectHints=["resource::kv::read"]),
            node("a"),
        ],
        [
            edge("t", "a", "exactly_once", timeout_ms=0, buffer={"max_items": 0, "spill_tier": "disk"}),
            edge("a", "t"),
            edge("a", "ghost"),
        ],
    )

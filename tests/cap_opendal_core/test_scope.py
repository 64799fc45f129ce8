"""The invocation scope: hint recording, weakening-only levels, nesting, deadline, budget, check()."""

from __future__ import annotations

import time

import anyio
import pytest

from cap_opendal_core import LimitExceeded
from cap_opendal_core.hints import Constraint, Determinism, Effects, HintRegistry
from cap_opendal_core.limits import WORKER_SUBREQUESTS_PER_INVOCATION
from cap_opendal_core.scope import InvocationScope, current_scope
from cap_opendal_core.validate import check_node

KV_READ = ("resource::kv::read", "resource::kv")
KV_WRITE = ("resource::kv::write", "resource::kv")
DO_READ = ("resource::state::read", "resource::state::read")
DO_WRITE = ("resource::state::write", "resource::state")


def record(scope: InvocationScope, hints: tuple[str, str], op: str = "op", cap: str = "cap") -> None:
    scope.record(hints[0], hints[1], capability=cap, operation=op)


def test_outside_any_scope_there_is_none() -> None:
    assert current_scope() is None


def test_with_sets_and_restores_the_current_scope() -> None:
    with InvocationScope("node") as scope:
        assert current_scope() is scope
    assert current_scope() is None


@pytest.mark.anyio
async def test_async_with_sets_and_restores_the_current_scope() -> None:
    async with InvocationScope("node") as scope:
        assert current_scope() is scope
    assert current_scope() is None


def test_scope_is_restored_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), InvocationScope():
        raise RuntimeError("boom")
    assert current_scope() is None


def test_a_scope_cannot_be_entered_twice_at_once() -> None:
    scope = InvocationScope()
    with scope, pytest.raises(RuntimeError, match="already open"), scope:
        pass


def test_a_fresh_scope_is_pure_and_strict() -> None:
    scope = InvocationScope()
    assert scope.observed_effects is Effects.PURE
    assert scope.observed_determinism is Determinism.STRICT
    assert scope.effect_hints == ()
    assert scope.records == []


def test_durable_object_read_alone_is_read_only_and_stable() -> None:
    with InvocationScope() as scope:
        record(scope, DO_READ)
    assert scope.observed_effects is Effects.READ_ONLY
    assert scope.observed_determinism is Determinism.STABLE


def test_levels_only_ever_weaken() -> None:
    """hints.md: after a Durable Object write the scope is BestEffort whatever was read before."""
    with InvocationScope() as scope:
        record(scope, DO_READ)
        assert (scope.observed_effects, scope.observed_determinism) == (Effects.READ_ONLY, Determinism.STABLE)
        record(scope, DO_WRITE)
        assert (scope.observed_effects, scope.observed_determinism) == (
            Effects.EFFECTFUL,
            Determinism.BEST_EFFORT,
        )
        record(scope, DO_READ)  # a later read does not make the scope stricter again
        assert (scope.observed_effects, scope.observed_determinism) == (
            Effects.EFFECTFUL,
            Determinism.BEST_EFFORT,
        )


def test_reads_after_a_write_do_not_strengthen_the_scope() -> None:
    with InvocationScope() as scope:
        record(scope, DO_WRITE)
        record(scope, ("resource::blob::read", "resource::blob::pinned"))
        record(scope, DO_READ)  # new hints whose own minimums are stricter
    assert scope.observed_effects is Effects.EFFECTFUL
    assert scope.observed_determinism is Determinism.BEST_EFFORT


def test_levels_do_not_strengthen_when_the_registry_changes_later() -> None:
    reg = HintRegistry([Constraint("resource::x::write", "effect", Effects.EFFECTFUL)])
    scope = InvocationScope(registry=reg)
    record(scope, ("resource::x::write", "resource::x"))
    reg.unregister("resource::x::write", "effect")
    assert scope.observed_effects is Effects.EFFECTFUL


def test_hints_are_ordered_and_deduplicated() -> None:
    scope = InvocationScope()
    record(scope, KV_READ, "get")
    record(scope, KV_WRITE, "put")
    record(scope, KV_READ, "get")
    record(scope, DO_READ, "storage.get")
    assert scope.effect_hints == ("resource::kv::read", "resource::kv::write", "resource::state::read")
    assert scope.determinism_hints == ("resource::kv", "resource::state::read")


def test_repeated_records_are_counted_not_stored_twice() -> None:
    scope = InvocationScope()
    for _ in range(5):
        record(scope, KV_READ, "get", "kv")
    record(scope, KV_WRITE, "put", "kv")
    assert [(r.capability, r.operation, r.effect_hint, r.count) for r in scope.records] == [
        ("kv", "get", "resource::kv::read", 5),
        ("kv", "put", "resource::kv::write", 1),
    ]
    assert scope.calls == 6


def test_records_are_bounded_but_hints_still_count() -> None:
    scope = InvocationScope(max_records=2)
    record(scope, KV_READ, "get")
    record(scope, KV_WRITE, "put")
    record(scope, DO_WRITE, "storage.put")  # a third distinct record does not fit
    record(scope, KV_READ, "get")  # a repeat of a kept record is still counted
    assert len(scope.records) == 2
    assert scope.records[0].count == 2
    assert scope.records_dropped == 1
    # the dropped record's hints still weaken the scope: the levels must stay truthful
    assert "resource::state::write" in scope.effect_hints
    assert scope.observed_effects is Effects.EFFECTFUL


def test_unknown_hints_are_recorded_without_changing_levels() -> None:
    scope = InvocationScope()
    record(scope, ("vendor::thing::read", "vendor::thing"))
    assert scope.effect_hints == ("vendor::thing::read",)
    assert scope.observed_effects is Effects.PURE
    assert scope.observed_determinism is Determinism.STRICT


@pytest.mark.parametrize(
    ("effect", "det", "cap", "op", "match"),
    [
        ("resource::kv:read", "resource::kv", "kv", "get", "malformed hint"),
        ("resource::kv::read", "", "kv", "get", "non-empty"),
        ("resource::kv::read", "resource::kv", "", "get", "capability"),
        ("resource::kv::read", "resource::kv", "kv", "", "operation"),
    ],
)
def test_bad_record_input_is_refused_and_leaves_the_scope_untouched(
    effect: str, det: str, cap: str, op: str, match: str
) -> None:
    scope = InvocationScope()
    with pytest.raises(ValueError, match=match):
        scope.record(effect, det, capability=cap, operation=op)
    assert scope.calls == 0
    assert scope.effect_hints == ()
    assert scope.records == []


# -- nesting -----------------------------------------------------------------------------------------


def test_child_records_propagate_to_the_parent_but_not_back() -> None:
    with InvocationScope("outer") as outer:
        record(outer, KV_READ, "get")
        with InvocationScope("inner") as inner:
            assert current_scope() is inner
            assert inner.parent is outer
            record(inner, DO_WRITE, "storage.put")
        assert current_scope() is outer
    assert inner.effect_hints == ("resource::state::write",)
    assert outer.effect_hints == ("resource::kv::read", "resource::state::write")
    assert outer.observed_effects is Effects.EFFECTFUL
    assert inner.calls == 1
    assert outer.calls == 2


def test_child_deadline_is_the_tighter_of_its_own_and_its_parents() -> None:
    now = time.monotonic()
    with InvocationScope(deadline=now + 10) as outer:
        with InvocationScope(deadline=now + 100) as loose:
            assert loose.deadline == pytest.approx(now + 10)
        with InvocationScope(deadline=now + 1) as tight:
            assert tight.deadline == pytest.approx(now + 1)
        with InvocationScope() as none:
            assert none.deadline == outer.deadline


def test_budget_charges_count_against_every_enclosing_scope() -> None:
    with InvocationScope(subrequest_budget=3) as outer:
        with InvocationScope(subrequest_budget=10) as inner:
            inner.charge(2)
            assert inner.subrequests_remaining == 1  # the parent's budget is the tighter one
            with pytest.raises(LimitExceeded) as info:
                inner.charge(2, capability="kv", operation="get")
        assert outer.subrequests_used == 2
        assert inner.subrequests_used == 2  # the refused charge was not counted anywhere
    err = info.value
    assert (err.limit, err.value, err.maximum) == ("subrequests", 4, 3)
    assert (err.capability, err.operation) == ("kv", "get")


def test_concurrent_tasks_keep_their_own_scopes() -> None:
    async def node(name: str, hints: tuple[str, str], out: dict[str, InvocationScope]) -> None:
        async with InvocationScope(name) as scope:
            await anyio.sleep(0.01)
            current = current_scope()
            assert current is scope
            record(current, hints)
            await anyio.sleep(0.01)
            out[name] = scope

    async def main() -> dict[str, InvocationScope]:
        out: dict[str, InvocationScope] = {}
        async with anyio.create_task_group() as tg:
            tg.start_soon(node, "a", KV_READ, out)
            tg.start_soon(node, "b", DO_WRITE, out)
        return out

    out = anyio.run(main)
    assert out["a"].effect_hints == ("resource::kv::read",)
    assert out["b"].effect_hints == ("resource::state::write",)


@pytest.mark.anyio
async def test_tasks_started_inside_a_scope_see_it() -> None:
    seen: list[InvocationScope | None] = []

    async def child() -> None:
        seen.append(current_scope())

    async with InvocationScope("parent") as scope, anyio.create_task_group() as tg:
        tg.start_soon(child)
    assert seen == [scope]


# -- deadline ------------------------------------------------------------------------------------------


def test_timeout_counts_from_entry_and_remaining_shrinks() -> None:
    scope = InvocationScope(timeout=30)
    with scope:
        first = scope.remaining()
        assert first is not None
        assert 0 < first <= 30
        assert not scope.expired()
    assert InvocationScope().remaining() is None


def test_a_passed_deadline_is_expired_and_remaining_is_zero() -> None:
    with InvocationScope(deadline=time.monotonic() - 1) as scope:
        assert scope.remaining() == 0.0
        assert scope.expired()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"deadline": 1.0, "timeout": 1.0}, "not both"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"deadline": "soon"}, "deadline"),
        ({"subrequest_budget": -1}, "subrequest_budget"),
        ({"subrequest_budget": True}, "subrequest_budget"),
        ({"max_records": 0}, "max_records"),
        ({"node_name": ""}, "node_name"),
    ],
)
def test_bad_scope_arguments_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        InvocationScope(**kwargs)  # type: ignore[arg-type]


# -- budget --------------------------------------------------------------------------------------------


def test_budget_is_unlimited_by_default() -> None:
    scope = InvocationScope()
    scope.charge(10_000)
    assert scope.subrequests_remaining is None
    assert scope.subrequests_used == 10_000


def test_workers_budget_stops_at_the_documented_limit() -> None:
    scope = InvocationScope(subrequest_budget=WORKER_SUBREQUESTS_PER_INVOCATION)
    for _ in range(WORKER_SUBREQUESTS_PER_INVOCATION):
        scope.charge()
    with pytest.raises(LimitExceeded, match="1000"):
        scope.charge()
    assert scope.subrequests_used == 1000


@pytest.mark.parametrize("n", [-1, 1.5, True])
def test_charge_refuses_bad_counts(n: object) -> None:
    with pytest.raises(ValueError, match="n must be"):
        InvocationScope().charge(n)  # type: ignore[arg-type]


# -- check ---------------------------------------------------------------------------------------------


def test_check_reports_what_the_node_did_beyond_its_declaration() -> None:
    with InvocationScope("writer") as scope:
        record(scope, KV_READ)
        record(scope, DO_WRITE)
    diags = scope.check(Effects.READ_ONLY, Determinism.STABLE)
    assert [(d.code, d.hint) for d in diags] == [
        ("DET301", "resource::kv::read"),
        ("DET301", "resource::state::write"),
        ("DET302", "resource::kv"),
        ("DET302", "resource::state"),
        ("EFFECT201", "resource::state::write"),
    ]
    effect = next(d for d in diags if d.code == "EFFECT201")
    assert (effect.node, effect.declared, effect.required) == ("writer", "read_only", "effectful")


def test_check_is_clean_when_the_declaration_covers_what_was_done() -> None:
    with InvocationScope("writer") as scope:
        record(scope, KV_WRITE)
    assert scope.check("effectful", "best_effort") == []
    assert scope.check(Effects.EFFECTFUL, Determinism.NONDETERMINISTIC) == []


def test_check_agrees_with_the_static_validator() -> None:
    """What the scope reports at run time is what the Flow IR validator says for the same hints."""
    hints = [KV_READ, DO_READ, DO_WRITE, ("resource::blob::read", "resource::blob::pinned")]
    with InvocationScope("n") as scope:
        for h in hints:
            record(scope, h)
    for effects in Effects:
        for det in Determinism:
            static = check_node(
                "n",
                effects,
                det,
                scope.effect_hints,
                scope.determinism_hints,
                idempotency_key="k",
            )
            dynamic = scope.check(effects, det)
            assert sorted((d.code, d.hint) for d in dynamic) == sorted(
                (d.code, d.hint) for d in static if d.code != "DAG004"
            ), (effects, det)


def test_check_reports_a_passed_deadline() -> None:
    with InvocationScope("slow", deadline=time.monotonic() - 1) as scope:
        pass
    assert [d.code for d in scope.check("pure", "strict")] == ["TIME015"]


def test_check_refuses_unknown_level_names() -> None:
    with pytest.raises(ValueError, match="unknown effects level"):
        InvocationScope().check("sideways", "strict")


def test_alias_and_summary() -> None:
    with InvocationScope("fetch_user", subrequest_budget=5) as scope:
        record(scope, KV_READ, "get", "kv")
        scope.charge()
    assert scope.alias == "fetch_user"
    summary = scope.to_dict()
    assert summary["observed_effects"] == "read_only"
    assert summary["observed_determinism"] == "best_effort"
    assert summary["subrequests_used"] == 1
    assert summary["records"][0]["operation"] == "get"
    assert "fetch_user" in repr(scope)


def test_a_pinned_read_alone_is_stable_and_an_unpinned_one_weakens_it() -> None:
    with InvocationScope("reader") as scope:
        record(scope, ("resource::blob::read", "resource::blob::pinned"))
        assert (scope.observed_effects, scope.observed_determinism) == (Effects.READ_ONLY, Determinism.STABLE)
        assert scope.check("read_only", "stable") == []
        record(scope, ("resource::blob::read", "resource::blob"))
        assert scope.observed_determinism is Determinism.BEST_EFFORT
    assert [(d.code, d.hint) for d in scope.check("read_only", "stable")] == [("DET302", "resource::blob")]


def test_outside_scope_hides_the_caller_scope_and_restores_it() -> None:
    from cap_opendal_core.scope import current_scope, outside_scope

    with InvocationScope("caller") as scope:
        with outside_scope():
            assert current_scope() is None
        assert current_scope() is scope

"""The same constructor mistake raises the same exception on every capability class.

One row per mistake of ``docs/capabilities.md``'s table "The same mistake, the same exception", run for
each of the five classes; each also checks what the message names and that nothing was written.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from cap_cloudflare_do import DurableObject, DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.errors import InvalidInput, Misconfigured
from cap_opendal_core.layers import LayerSettings
from cap_opendal_core.metrics import Metrics

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


class Echo(DurableObject):
    async def echo(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Case:
    cls: type[Any]
    local: Callable[[Any], Any]
    """``local`` with everything but the path."""
    from_url: Callable[[Any], Any]
    """``from_url`` with what it needs besides the URL."""


CASES = [
    Case(KvNamespace, KvNamespace.local, KvNamespace.from_url),
    Case(R2Bucket, R2Bucket.local, R2Bucket.from_url),
    Case(Queue, lambda p: Queue.local(p, "jobs"), Queue.from_url),
    Case(QueueConsumer, lambda p: QueueConsumer.local(p, "jobs"), QueueConsumer.from_url),
    Case(
        DurableObjectNamespace,
        lambda p: DurableObjectNamespace.local(p, Echo),
        lambda url: DurableObjectNamespace.from_url(url, object_class=Echo),
    ),
]
IDS = [case.cls.__name__ for case in CASES]
WITH_ENV = [case for case in CASES if hasattr(case.cls, "from_env")]


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def _nothing_written(tmp_path: Path) -> None:
    assert list(tmp_path.iterdir()) == []


def test_settings_that_are_not_layer_settings(case: Case, tmp_path: Path) -> None:
    with pytest.raises(Misconfigured, match="LayerSettings"):
        case.cls.local(tmp_path / "store", *_second(case), settings={"retry": 3})
    _nothing_written(tmp_path)


@pytest.mark.parametrize(
    "bad", ["", "nul\x00byte", "a-file", 42], ids=["empty", "nul", "a file", "not a path"]
)
def test_a_local_path_that_cannot_be_a_store(case: Case, tmp_path: Path, bad: object) -> None:
    if bad == "a-file":
        target = tmp_path / "a-file"
        target.write_bytes(b"x")
        bad = target
    with pytest.raises(Misconfigured, match="local store directory"):
        case.local(bad)
    assert [p.name for p in tmp_path.iterdir()] in ([], ["a-file"])


@pytest.mark.parametrize(
    ("cls", "call", "order"),
    [
        (Queue, lambda p: Queue.local("jobs", p), r"Queue\.local\(path, name"),
        (QueueConsumer, lambda p: QueueConsumer.local("jobs", p), r"QueueConsumer\.local\(path, name"),
        (
            DurableObjectNamespace,
            lambda p: DurableObjectNamespace.local(Echo, p),  # type: ignore[arg-type]
            r"DurableObjectNamespace\.local\(path, object_class",
        ),
    ],
    ids=["Queue", "QueueConsumer", "DurableObjectNamespace"],
)
def test_local_in_the_old_order_names_the_new_one(
    tmp_path: Path, cls: type[Any], call: Callable[[Path], Any], order: str
) -> None:
    """``Queue``, ``QueueConsumer`` and ``DurableObjectNamespace`` used to take the name or class
    first; that order is refused, saying the new one, before anything is written."""
    with pytest.raises(Misconfigured, match=order):
        call(tmp_path / "store")
    _nothing_written(tmp_path)


def test_a_class_given_as_the_path(case: Case, tmp_path: Path) -> None:
    with pytest.raises(Misconfigured):
        case.local(Echo)


def test_an_unknown_url_scheme(case: Case) -> None:
    with pytest.raises(Misconfigured, match="bogus"):
        case.from_url("bogus:///somewhere")


def test_a_url_that_is_not_a_str(case: Case) -> None:
    with pytest.raises(InvalidInput):
        case.from_url(42)


@pytest.mark.parametrize("case", WITH_ENV, ids=[c.cls.__name__ for c in WITH_ENV])
@pytest.mark.parametrize(
    "env", [types.SimpleNamespace(OTHER=object()), {"OTHER": object()}], ids=["object", "mapping"]
)
def test_from_env_without_the_binding(case: Case, env: object) -> None:
    with pytest.raises(Misconfigured, match="'ORDERS' is missing from env"):
        case.cls.from_env(env, "ORDERS")


@pytest.mark.parametrize("case", WITH_ENV, ids=[c.cls.__name__ for c in WITH_ENV])
def test_from_env_outside_a_worker(case: Case) -> None:
    """With the binding there, CPython still cannot reach it: the same error on every class."""
    with pytest.raises(Misconfigured, match=rf"{case.cls.__name__}\.from_env works only inside a Python"):
        case.cls.from_env({"ORDERS": object()}, "ORDERS")


@pytest.mark.parametrize("config", ["memory://", 42, {"not": "a config"}], ids=["str", "int", "dict"])
def test_from_config_of_the_wrong_type(case: Case, config: object) -> None:
    with pytest.raises(Misconfigured):
        case.cls.from_config(config)


def test_metrics_and_logger_reach_the_pipeline(case: Case, tmp_path: Path) -> None:
    """Every constructor takes ``metrics``/``logger`` keyword-only and passes them on."""
    import structlog

    metrics = Metrics()
    logger = structlog.get_logger("conformance")
    cap = case.cls.local(
        tmp_path / "store", *_second(case), settings=LayerSettings(), metrics=metrics, logger=logger
    )
    try:
        assert cap.pipeline.metrics is metrics
    finally:
        import anyio

        anyio.run(cap.aclose)


def _second(case: Case) -> tuple[Any, ...]:
    if case.cls in (Queue, QueueConsumer):
        return ("jobs",)
    if case.cls is DurableObjectNamespace:
        return (Echo,)
    return ()

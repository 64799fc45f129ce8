"""docs/capabilities.md's constructors table is what the code says (regenerate it from the message)."""

from __future__ import annotations

import re
from pathlib import Path

from cap_cloudflare_do import DurableObjectNamespace
from cap_cloudflare_kv import KvNamespace
from cap_cloudflare_queue import Queue, QueueConsumer
from cap_cloudflare_r2 import R2Bucket
from cap_opendal_core.constructors import parameters, render_constructors_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "capabilities.md"
CLASSES = (KvNamespace, R2Bucket, Queue, QueueConsumer, DurableObjectNamespace)
_SECTION = re.compile(
    r"<!-- constructors-table: generated; do not edit by hand -->\n"
    r"(?P<table>.*?)<!-- /constructors-table -->",
    re.DOTALL,
)


def documented_table() -> str:
    found = _SECTION.search(DOC.read_text(encoding="utf-8"))
    assert found, f"{DOC} lost its constructors-table markers"
    return found["table"]


def test_the_documented_table_is_the_generated_one() -> None:
    expected = render_constructors_table(CLASSES)
    assert documented_table() == expected, (
        "docs/capabilities.md is out of date; replace the table between the markers with:\n\n" + expected
    )


def test_the_table_reads_the_signatures() -> None:
    """The generator is not a constant: a changed signature changes its row."""

    class Probe(KvNamespace):
        @classmethod
        def local(cls, somewhere: str, *, extra: int = 0) -> KvNamespace:  # type: ignore[override]
            raise NotImplementedError

    row = render_constructors_table([Probe]).splitlines()[-1]
    assert "`(somewhere, *, extra=…)`" in row
    assert "`(env, binding, *, settings=…, metrics=…, logger=…)`" in row  # inherited from_env


def test_the_table_expands_the_shared_options() -> None:
    """``**options: Unpack[CapabilityOptions]`` is shown (and checked) as its three keywords."""
    import inspect

    names = [(p.name, p.kind, p.default) for p in parameters(KvNamespace.local)]
    assert names[-3:] == [
        (name, inspect.Parameter.KEYWORD_ONLY, None) for name in ("settings", "metrics", "logger")
    ]


def test_every_capability_shares_the_constructor_shape() -> None:
    """What the table lets a reader compare, asserted: from_env(env, binding), url/config first,
    settings keyword-only everywhere, the same __init__ keywords."""
    import inspect

    for cls in CLASSES:
        init = {p.name: p for p in parameters(cls.__init__)}
        for keyword in ("settings", "metrics", "logger"):
            assert init[keyword].kind is inspect.Parameter.KEYWORD_ONLY, (cls, keyword)
        for name, first in (("from_url", "url"), ("from_config", "config")):
            params = parameters(getattr(cls, name))
            assert params[0].name == first, (cls, name)
            assert params[-1].name != "settings" or params[-1].kind is inspect.Parameter.KEYWORD_ONLY
        if hasattr(cls, "from_env"):
            assert list(inspect.signature(cls.from_env).parameters)[:2] == ["env", "binding"], cls
        assert next(iter(inspect.signature(cls.local).parameters)) == "path", cls


def test_every_constructor_takes_settings_metrics_and_logger_keyword_only() -> None:
    """The pipeline's three keywords reach every classmethod constructor, not only ``__init__``."""
    import inspect

    for cls in CLASSES:
        for name in ("from_env", "local", "from_url", "from_config", "from_gateway"):
            fn = getattr(cls, name, None)
            if fn is None:
                continue
            params = {p.name: p for p in parameters(fn)}
            for keyword in ("settings", "metrics", "logger"):
                assert keyword in params, (cls, name, keyword)
                assert params[keyword].kind is inspect.Parameter.KEYWORD_ONLY, (cls, name, keyword)
                assert params[keyword].default is None, (cls, name, keyword)

"""The capability bag: naming, what it knows about each capability, and closing them all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cap_opendal_core import CapabilityBag, Misconfigured
from cap_opendal_core.bag import DeclaredBinding, UnknownBinding, load_bindings
from cap_opendal_core.descriptors import Descriptor
from cap_opendal_core.errors import InvalidInput
from cap_opendal_core.plugins import discover

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType


class Closable:
    """A capability with ``aclose()`` only; records into a shared log."""

    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    async def aclose(self) -> None:
        self.log.append(f"aclose {self.name}")
        if self.fail:
            raise RuntimeError(f"{self.name} failed to close")


class Managed:
    """A capability that is an async context manager (and has aclose, which the bag must not use)."""

    binding_kind = "r2_bucket"

    def __init__(self, name: str, log: list[str], fail_enter: bool = False) -> None:
        self.name, self.log, self.fail_enter = name, log, fail_enter

    async def __aenter__(self) -> Managed:
        if self.fail_enter:
            raise ConnectionError(f"{self.name} cannot open")
        self.log.append(f"enter {self.name}")
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.log.append(f"exit {self.name}")

    async def aclose(self) -> None:
        self.log.append(f"aclose {self.name}")


def test_names_lookup_iteration_and_errors() -> None:
    a, b = object(), object()
    bag = CapabilityBag().add("FLOW_KV", a, kind="kv_namespace").add("ARCHIVE", b, kind="r2_bucket")
    assert bag["FLOW_KV"] is a
    assert bag.get("ARCHIVE") is b
    assert bag.get("NOPE") is None
    assert bag.get("NOPE", 3) == 3
    assert "FLOW_KV" in bag
    assert "NOPE" not in bag
    assert list(bag) == ["FLOW_KV", "ARCHIVE"]
    assert len(bag) == 2
    assert dict(bag.items()) == {"FLOW_KV": a, "ARCHIVE": b}
    assert "FLOW_KV: kv_namespace" in repr(bag)

    with pytest.raises(UnknownBinding) as info:
        bag["FLOW_Q"]
    err = info.value
    assert isinstance(err, KeyError)
    assert isinstance(err, Misconfigured)
    assert str(err) == "[FLOW_Q] no binding named 'FLOW_Q' in the capability bag (it holds: FLOW_KV, ARCHIVE)"
    with pytest.raises(KeyError):
        bag["FLOW_Q"]

    with pytest.raises(Misconfigured, match="already holds a binding named 'FLOW_KV' \\(kv_namespace\\)"):
        bag.add("FLOW_KV", object())
    c = object()
    bag.add("FLOW_KV", c, kind="kv_namespace", replace=True)
    assert bag["FLOW_KV"] is c


@pytest.mark.parametrize("name", ["", "1ABC", "FLOW-KV", "has space", None])
def test_binding_names_must_be_identifiers(name: Any) -> None:
    with pytest.raises(InvalidInput, match="identifier"):
        CapabilityBag().add(name, object())


def test_bad_kind_descriptor_or_hints_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="kind 'd1' is not one of"):
        CapabilityBag().add("X", object(), kind="d1")
    with pytest.raises(InvalidInput, match="descriptor must be a Descriptor"):
        CapabilityBag().add("X", object(), descriptor={"consistency": "strong"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="not a string"):
        CapabilityBag().add("X", object(), provided_hints="resource::kv")
    with pytest.raises(InvalidInput, match="malformed hint"):
        CapabilityBag().add("X", object(), provided_hints=["resource:kv"])
    with pytest.raises(InvalidInput, match="None"):
        CapabilityBag().add("X", None)


def test_facts_come_from_arguments_then_attributes_then_the_plugin() -> None:
    kv_plugin = discover()["kv"]
    strong = Descriptor(consistency="strong")

    class WithAttrs:
        binding_kind = "kv_namespace"
        descriptor = strong
        provided_hints = ("resource::kv::read",)

    class WithInfo:
        binding_kind = "kv_namespace"

        class info:
            descriptor = strong

    class Bare:
        pass

    bag = CapabilityBag()
    bag.add("ATTRS", WithAttrs())
    e = bag.entry("ATTRS")
    assert (e.kind, e.descriptor, e.provided_hints) == ("kv_namespace", strong, ("resource::kv::read",))

    bag.add("ARGS", WithAttrs(), descriptor=Descriptor(), provided_hints=["resource::kv"])
    e = bag.entry("ARGS")
    assert e.descriptor == Descriptor()
    assert e.provided_hints == ("resource::kv",)

    bag.add("INFO", WithInfo())
    e = bag.entry("INFO")
    assert e.descriptor is strong
    assert e.provided_hints == kv_plugin.provided_hints

    bag.add("BYKIND", Bare(), kind="kv_namespace")
    e = bag.entry("BYKIND")
    assert e.descriptor == kv_plugin.descriptor
    assert e.provided_hints == kv_plugin.provided_hints

    bag.add("UNKNOWN", Bare())
    e = bag.entry("UNKNOWN")
    assert (e.kind, e.descriptor, e.provided_hints) == (None, None, ())


def test_kind_is_inferred_from_the_capability_package() -> None:
    # A class defined in the kv package (as KvNamespace will be) is described by the kv plugin.
    KvLike = type("KvLike", (), {"__module__": "cap_cloudflare_kv.namespace"})
    bag = CapabilityBag({"FLOW_KV": KvLike()})
    e = bag.entry("FLOW_KV")
    assert e.kind == "kv_namespace"
    assert e.descriptor == discover()["kv"].descriptor
    assert bag.providers_of("resource::kv::write") == ("FLOW_KV",)
    assert bag.providers_of("resource::blob::read") == ()


@pytest.mark.anyio
async def test_async_with_enters_and_closes_everything_newest_first() -> None:
    log: list[str] = []
    bag = CapabilityBag()
    bag.add("A", Managed("a", log)).add("B", Closable("b", log)).add("C", Managed("c", log))
    async with bag as same:
        assert same is bag
        assert log == ["enter a", "enter c"]
    assert log == ["enter a", "enter c", "exit c", "aclose b", "exit a"]


@pytest.mark.anyio
async def test_closing_attempts_every_capability_and_reports_failures() -> None:
    log: list[str] = []
    bag = CapabilityBag(
        {"A": Closable("a", log), "B": Closable("b", log, fail=True), "C": Closable("c", log)}
    )
    with pytest.raises(RuntimeError, match="b failed to close"):
        async with bag:
            pass
    assert log == ["aclose c", "aclose b", "aclose a"]

    log.clear()
    two = CapabilityBag({"A": Closable("a", log, fail=True), "B": Closable("b", log, fail=True)})
    with pytest.raises(ExceptionGroup) as info:
        await two.aclose()
    assert len(info.value.exceptions) == 2
    assert log == ["aclose b", "aclose a"]


@pytest.mark.anyio
async def test_a_failed_enter_closes_what_was_opened() -> None:
    log: list[str] = []
    bag = CapabilityBag({"A": Managed("a", log), "B": Managed("b", log, fail_enter=True)})
    with pytest.raises(ConnectionError, match="b cannot open"):
        async with bag:
            pytest.fail("body must not run")
    # a was entered then exited; b never opened, so it is closed with aclose
    assert log == ["enter a", "aclose b", "exit a"]


def test_declared_bindings_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bindings.toml"
    path.write_text(
        """
        [bindings.FLOW_KV]
        kind = "kv_namespace"
        descriptor = { consistency = "strong", extensions = { "com.example.note" = 1 } }

        [bindings.ARCHIVE]
        kind = "r2_bucket"
        provides = ["resource::blob::read"]
        """
    )
    bag = load_bindings(path)
    kv, r2 = bag.entry("FLOW_KV"), bag.entry("ARCHIVE")
    assert isinstance(kv.capability, DeclaredBinding)
    assert kv.descriptor == Descriptor(consistency="strong", extensions={"com.example.note": 1})
    assert kv.provided_hints == discover()["kv"].provided_hints
    assert r2.descriptor == discover()["r2"].descriptor
    assert r2.provided_hints == ("resource::blob::read",)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[bindings.X]\nkind = "d1"\n', r"bindings\.X\.kind: 'd1' is not one of"),
        ('[bindings.X]\nkind = "queue"\ncolour = "red"\n', r"bindings\.X\.colour: unknown key"),
        (
            '[bindings.X]\nkind = "queue"\ndescriptor = { delivery = "twice" }\n',
            r"bindings\.X\.descriptor:.*twice",
        ),
        ('[bindings.X]\nkind = "queue"\nprovides = "resource::queue"\n', r"provides: must be a list"),
        (
            '[bindings.X]\nkind = "queue"\napi_token = "abcdef123456"\n',
            r"bindings\.X\.api_token: .*no secrets",
        ),
        ('[bindings."1X"]\nkind = "queue"\n', r"identifiers"),
        ("[other]\n", r"other: unknown key"),
        ("bindings = [", r"not valid TOML"),
    ],
)
def test_bad_bindings_files_name_the_problem(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "b.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=match) as info:
        load_bindings(path)
    assert str(path) in str(info.value)
    assert "abcdef123456" not in str(info.value)

"""The plugin's embedded-backend fixtures, clock and scope assertions, run on a sample server flow."""

from __future__ import annotations

import pytest

from cap_opendal_core.scope import InvocationScope
from cap_testing import CapsClock, assert_node, checked_node
from cap_testing.factory import Caps

from .sample_projects import SERVER_FLOW, SERVER_FLOW_OUTCOMES, write_project


def test_a_server_flow_project_passes_on_the_embedded_backends(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, SERVER_FLOW)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error::pytest.PytestUnraisableExceptionWarning"
    )
    result.assert_outcomes(**SERVER_FLOW_OUTCOMES)
    # the one failing test fails with the validator's diagnostics, not with a traceback of the plugin
    result.stdout.fnmatch_lines(
        [
            "*node 'pure_total' did more than it declares (declared effects=pure, determinism=strict;*",
            "*EFFECT201 pure_total hint=resource::kv::write declared=pure required=effectful*",
        ]
    )
    assert "FAILED test_flow.py::test_node_that_writes_fails" in result.stdout.str()


def test_the_clock_refuses_to_run_backwards() -> None:
    clock = CapsClock(100)
    assert clock.advance(5) == 105 == clock()
    with pytest.raises(ValueError, match="never runs backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="finite number"):
        clock.advance(float("nan"))
    with pytest.raises(ValueError, match="finite number"):
        CapsClock("now")  # type: ignore[arg-type]


def test_names_that_would_leave_the_test_directory_are_refused(tmp_path: pytest.TempPathFactory) -> None:
    caps = Caps(str(tmp_path), CapsClock())
    for bad in ("..", "a/b", "", "-x"):
        with pytest.raises(ValueError, match="name must be"):
            caps.kv(bad)
    with pytest.raises(TypeError, match=r"subclass of cap_cloudflare_do\.DurableObject"):
        caps.durable_objects(dict)  # type: ignore[arg-type]


def test_assert_node_needs_exactly_one_declaration() -> None:
    with InvocationScope("n") as scope:
        pass
    with pytest.raises(TypeError, match="exactly one"):
        assert_node(scope)
    with pytest.raises(TypeError, match="exactly one"):
        assert_node(scope, {"effects": "pure", "determinism": "strict"}, effects="pure")
    with pytest.raises(ValueError, match="not in the flow"):
        assert_node(scope, flow={"nodes": [{"alias": "other"}]})
    assert_node(scope, effects="pure", determinism="strict")  # nothing done: nothing exceeded


def test_checked_node_lets_the_blocks_own_exception_through() -> None:
    with pytest.raises(KeyError), checked_node("n", effects="pure", determinism="strict"):
        raise KeyError("x")

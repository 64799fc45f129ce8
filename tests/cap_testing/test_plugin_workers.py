"""``workers_env``: a sample Worker (queue consumer, a Durable Object in Python) run under Pyodide on
Miniflare's bindings, from the outside. The Node side comes from the plugin's per-user cache."""

from __future__ import annotations

import pytest

from .sample_projects import NEEDS_NODE, WORKER, WORKER_OUTCOMES, write_project

pytestmark = pytest.mark.workers


@NEEDS_NODE
def test_a_worker_project_passes_under_workers_env(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, WORKER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "tests", timeout=900)
    result.assert_outcomes(**WORKER_OUTCOMES)


def test_without_node_workers_env_skips_with_the_reason(pytester: pytest.Pytester) -> None:
    write_project(pytester.path, WORKER)
    pytester.makeconftest(
        """
        import shutil

        import pytest


        @pytest.fixture(scope="session", autouse=True)
        def _no_node(monkeypatch_session=None):
            real = shutil.which
            shutil.which = lambda name, *a, **k: None if name == "node" else real(name, *a, **k)
            yield
            shutil.which = real
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", "tests")
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines(
        ["*workers_env: workers_env needs Node 20+ and npm; node was not found on PATH*"]
    )


def test_a_missing_wrangler_toml_is_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(workers_env):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*workers_env reads the Worker's bindings from *wrangler.toml, which does not exist*"]
    )

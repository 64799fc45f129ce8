"""Test-only stand-in for workerd's ``_pyodide_entrypoint_helper`` so the ``workers`` SDK imports.

The harness uses only the SDK's binding wrappers; the entry-point machinery needs workerd itself.
"""

from __future__ import annotations

from typing import Any, NoReturn

cloudflareWorkersModule: Any = None
cloudflareSocketsModule: Any = None


def _unavailable(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise NotImplementedError("workerd's entry-point helper is not available in the cap-* test harness")


doAnImport = _unavailable
patch_env_helper = _unavailable
patchWaitUntil = _unavailable

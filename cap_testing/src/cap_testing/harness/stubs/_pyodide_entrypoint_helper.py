"""Stand-in for workerd's ``_pyodide_entrypoint_helper`` so the ``workers`` SDK imports under Node.

The cap-testing host constructs entrypoints and Durable Objects itself; ``waitUntil`` is handled by
the context object it passes, so patching it is a no-op here. The rest needs workerd itself.
"""

from __future__ import annotations

from typing import Any, NoReturn

cloudflareWorkersModule: Any = None
cloudflareSocketsModule: Any = None


def _unavailable(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise NotImplementedError("workerd's entry-point helper is not available in the cap-testing Workers host")


def patchWaitUntil(_ctx: Any) -> None:
    """No-op: the host's context objects already run what is handed to ``waitUntil``."""


doAnImport = _unavailable
patch_env_helper = _unavailable

"""``Caps``: each capability on its embedded backend in one test's directory, on one shared clock.

The ``caps`` fixture hands a test one of these; ``caps_kv``, ``caps_r2``, ``caps_queue`` and
``caps_do`` are shortcuts to its methods. Everything it built is closed when the test ends (an object
the test closed itself is left alone), and everything lives under the test's ``tmp_path``, so tests
never see each other's data. Constructors are called with keyword arguments only, so the factory does
not depend on the order of a backend's positional parameters.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import os

    from cap_cloudflare_do import Dedupe, DurableObject, DurableObjectNamespace
    from cap_cloudflare_kv import KvNamespace
    from cap_cloudflare_queue import Queue, QueueConsumer
    from cap_cloudflare_r2 import R2Bucket

    from .clock import CapsClock

__all__ = ["Caps"]

T = TypeVar("T")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _folder_name(value: object, what: str) -> str:
    """A name that becomes one folder under the test's directory: no separators, no surprises."""
    if not isinstance(value, str) or not _NAME.match(value) or value in (".", ".."):
        raise ValueError(
            f"caps.{what}: name must be 1-63 letters, digits, '_', '.' or '-' (starting with a letter "
            f"or digit), got {value!r}"
        )
    return value


class Caps:
    """Builds capabilities on the embedded backends under ``root``, every one on ``clock``."""

    def __init__(self, root: str | os.PathLike[str], clock: CapsClock) -> None:
        self.root = Path(root)
        self.clock = clock
        self._opened: list[Any] = []
        self._namespaces: list[DurableObjectNamespace] = []

    def _keep(self, obj: T) -> T:
        self._opened.append(obj)
        return obj

    def kv(self, name: str = "kv") -> KvNamespace:
        """A KV namespace (files + SQLite in ``<root>/kv/<name>``); expiry follows the clock."""
        from cap_cloudflare_kv import KvNamespace

        path = self.root / "kv" / _folder_name(name, "kv")
        return self._keep(KvNamespace.local(path=path, clock=self.clock))

    def r2(self, name: str = "bucket") -> R2Bucket:
        """An R2 bucket in ``<root>/r2/<name>`` (R2 has no time-dependent behaviour to drive)."""
        from cap_cloudflare_r2 import R2Bucket

        return self._keep(R2Bucket.local(path=self.root / "r2" / _folder_name(name, "r2")))

    def queue(self, name: str = "queue") -> Queue:
        """The producer of local queue ``name``; every queue of the test shares ``<root>/queues``."""
        from cap_cloudflare_queue import Queue

        _folder_name(name, "queue")
        return self._keep(Queue.local(path=self.root / "queues", name=name, clock=self.clock))

    def consumer(self, name: str = "queue", **settings: Any) -> QueueConsumer:
        """A consumer of local queue ``name`` (``max_batch_size``, ``max_retries``,
        ``dead_letter_queue``, ``retry_delay``, ``visibility_timeout`` … as ``QueueConsumer.local``)."""
        from cap_cloudflare_queue import QueueConsumer

        _folder_name(name, "consumer")
        return self._keep(
            QueueConsumer.local(path=self.root / "queues", name=name, clock=self.clock, **settings)
        )

    def durable_objects(
        self, object_class: type[DurableObject], *, env: Any = None
    ) -> DurableObjectNamespace:
        """A namespace of ``object_class`` in the embedded runtime (``<root>/do/<class name>``);
        alarms are due by the clock and fire on ``await caps.run_due_alarms()``."""
        from cap_cloudflare_do import DurableObject, DurableObjectNamespace

        if not (isinstance(object_class, type) and issubclass(object_class, DurableObject)):
            raise TypeError(
                f"caps.durable_objects: object_class must be a subclass of cap_cloudflare_do.DurableObject, "
                f"got {object_class!r}"
            )
        namespace = DurableObjectNamespace.local(
            object_class=object_class,
            path=self.root / "do" / object_class.__name__,
            env=env,
            clock=self.clock,
        )
        self._namespaces.append(namespace)
        return self._keep(namespace)

    def dedupe(self) -> Dedupe:
        """A Dedupe ledger in the embedded runtime; claim TTLs follow the clock."""
        from cap_cloudflare_do import Dedupe

        return self._keep(Dedupe.local(path=self.root / "do" / "DedupeLedger", clock=self.clock))

    async def run_due_alarms(self) -> int:
        """Fire every Durable Object alarm due by the clock, in every namespace built here; how many."""
        fired = 0
        for namespace in self._namespaces:
            runtime = namespace.runtime
            if runtime is not None and not namespace.closed:
                fired += await runtime.run_due_alarms()
        return fired

    async def aclose(self) -> None:
        """Close everything built here, newest first (a consumer before its queue's producer)."""
        errors: list[BaseException] = []
        while self._opened:
            obj = self._opened.pop()
            try:
                await obj.aclose()
            except Exception as exc:  # close the rest, then report
                errors.append(exc)
        self._namespaces.clear()
        if errors:
            raise errors[0]

    def __repr__(self) -> str:
        return f"Caps(root={str(self.root)!r}, clock={self.clock!r}, open={len(self._opened)})"

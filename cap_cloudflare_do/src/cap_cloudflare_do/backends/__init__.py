"""Backends of the Durable Objects capability: the small protocols the public classes call.

``local`` (the embedded runtime), ``workers`` (a Worker's binding, through Pyodide's FFI) and
``gateway`` (an httpx client for the shipped gateway Worker) implement :class:`~.base.NamespaceBackend`;
``local`` and ``workers`` also implement :class:`~.base.StorageBackend` for an object's own storage. Each
lives in its own module and none imports another; the public classes validate input first and send
every call through the pipeline, so a backend only does I/O and conversion.
"""

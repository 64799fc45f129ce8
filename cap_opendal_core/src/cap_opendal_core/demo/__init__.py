"""The demo flow: one small, real flow over all four capabilities, shared by every host.

Ingest a batch of events — store each payload in R2, index it in KV, enqueue a job per event — then
consume the jobs with exactly-once effects through ``Dedupe`` and keep a summary. ``caps demo`` runs
it on the embedded local backends; ``examples/server_host`` serves it over HTTP; and
``examples/workers_host`` runs it inside a Python Worker with ``from_env`` capabilities. All three
import the same modules from here.

Why it lives in cap-opendal-core, and what that costs: the ``caps`` CLI is core's, an installed CLI
can only import installed packages, and a Python Worker can only import what it vendors — so the flow
has to be in a distribution, and a sixth one just for a demo is not worth it. Core must not *depend*
on the capability packages, though, so this subpackage imports them only inside functions (and for
type checking); nothing else in core imports ``cap_opendal_core.demo``, and ``import cap_opendal_core``
never loads it. Using it needs the four capability packages installed (``caps demo`` says which one
is missing). It runs under Pyodide: the flow and observer modules import nothing heavier than anyio.

- :mod:`.flow` — the nodes, :class:`DemoCapabilities`, :func:`ingest`, :func:`handle_jobs`.
- :mod:`.observe` — :class:`FlowObserver`: one invocation scope per node execution, compared with the
  node's declaration in ``demo_ingest.flow_ir.json``.
- :mod:`.events` — the demo's events and the checks on submitted ones.
- :mod:`.local` — :class:`LocalDemo`: the capabilities on files and SQLite under one directory.
- :mod:`.run` — the ``caps demo`` program; :mod:`.console` — its tables and progress bar.
"""

from __future__ import annotations

from .flow import DemoBindings, DemoCapabilities, IngestReport, JobsReport, handle_jobs, ingest
from .observe import DeclaredNode, FlowObserver, NodeReport, declared_nodes, demo_flow, demo_manifest

__all__ = [
    "DeclaredNode",
    "DemoBindings",
    "DemoCapabilities",
    "FlowObserver",
    "IngestReport",
    "JobsReport",
    "NodeReport",
    "declared_nodes",
    "demo_flow",
    "demo_manifest",
    "handle_jobs",
    "ingest",
]

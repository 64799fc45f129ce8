"""The demo flow: one small, real flow over all four capabilities, shared by every host.

Ingest a batch of events — store each payload in R2, index it in KV, enqueue a job per event — then
consume the jobs with exactly-once effects through ``Dedupe`` and keep a summary. ``caps demo`` runs
it on the embedded local backends; ``examples/server_host`` serves it over HTTP; and
``examples/workers_host`` runs it inside a Python Worker with ``from_env`` capabilities. All three
import the same modules from here.

Why a distribution of its own (``cap-demo``, never published): the flow uses all four capability
packages, and core imports none of them (``tests/test_import_contract.py``). It is still a
distribution, not a folder of scripts, because an installed CLI can only import installed packages
and a Python Worker can only import what it vendors: ``cap-demo`` depends on the five packages and
adds ``caps demo`` through the entry point group ``cap_opendal_core.commands``
(:mod:`cap_opendal_core.commands`). It runs under Pyodide: the flow and observer modules import
nothing heavier than anyio.

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

__version__ = "0.1.0"

__all__ = [
    "DeclaredNode",
    "DemoBindings",
    "DemoCapabilities",
    "FlowObserver",
    "IngestReport",
    "JobsReport",
    "NodeReport",
    "__version__",
    "declared_nodes",
    "demo_flow",
    "demo_manifest",
    "handle_jobs",
    "ingest",
]

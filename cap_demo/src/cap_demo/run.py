"""``caps demo``: the demo flow end to end on the embedded local backends, printed readably.

In order: the installed capability plugins; the validator's verdict on the flow, and on one
deliberately wrong node; preflight of the local capabilities against the flow's manifest; the flow
itself (ingest N events, then consume the jobs with a progress bar); each node's declared effects and
determinism against what its invocation scopes observed; metrics per capability and operation; where
the data lives; and a closing table of this run against the running totals. A second run finds the
events already stored and every job already claimed in the Dedupe ledger, and says so.

Per-call log events (one per capability call) would bury all of that, so structlog is configured here
to show warnings and errors only, on stderr (``--verbose`` shows every call); the previous structlog
configuration is restored afterwards.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TextIO

from cap_opendal_core.errors import Misconfigured

from .console import ProgressBar, heading, human_bytes, table

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from cap_opendal_core.diagnostics import Diagnostic

    from .flow import DemoCapabilities, IngestReport, JobsReport
    from .local import LocalDemo
    from .observe import NodeReport
    from .traces import DemoTracing

__all__ = ["MAX_EVENTS", "WRONG_NODE", "run_demo"]

MAX_EVENTS: Final = 10_000
"""A ceiling that keeps ``caps demo`` well under a minute."""

CAPABILITY_PACKAGES: Final = {
    "cap_cloudflare_kv": "cap-cloudflare-kv",
    "cap_cloudflare_r2": "cap-cloudflare-r2",
    "cap_cloudflare_queue": "cap-cloudflare-queue",
    "cap_cloudflare_do": "cap-cloudflare-do",
}

WRONG_NODE: Final[dict[str, Any]] = {
    "id": "6f1c2d0e-5b7a-4e1f-9a43-cafe0000d3e0::peek_index",
    "alias": "peek_index",
    "identifier": "caps_demo::peek_index",
    "name": "PeekIndex",
    "kind": "activity",
    "summary": "Claims to be a pure lookup, but caches what it saw in KV",
    "in_schema": {"kind": "named", "name": "Job"},
    "out_schema": {"kind": "named", "name": "Job"},
    "effects": "pure",
    "determinism": "strict",
    "idempotency": {},
    "determinismHints": [],
    "effectHints": ["resource::kv::write"],
}
"""A node that is deliberately wrong: it declares ``pure``/``strict`` but writes to KV."""


@dataclass
class _Run:
    """Everything one run found, for the printout and for ``last-run.json``."""

    events: int
    data_dir: Path
    validate: list[Diagnostic] = field(default_factory=list)
    wrong: list[Diagnostic] = field(default_factory=list)
    preflight: list[Diagnostic] = field(default_factory=list)
    ingest: IngestReport | None = None
    jobs: JobsReport | None = None
    summary: dict[str, Any] | None = None
    nodes: list[NodeReport] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def unexpected(self) -> list[Diagnostic]:
        """Diagnostics that mean the flow, the bindings or a node is wrong (the wrong node's are expected)."""
        observed = [d for r in self.nodes if r.alias != WRONG_NODE["alias"] for d in r.diagnostics]
        return [*self.validate, *self.preflight, *observed]


def run_demo(
    *,
    data_dir: Path,
    events: int,
    clean: bool,
    verbose: bool = False,
    out: TextIO | None = None,
    otel: bool = False,
) -> int:
    """Run the demo; returns the exit code (0 clean, 1 when a diagnostic the demo did not plant appeared).
    ``otel`` records the run's OpenTelemetry spans and prints them as a tree (:mod:`.traces`).

    Raises :class:`~cap_opendal_core.errors.InvalidInput` / :class:`Misconfigured` for bad options, a
    missing capability package, or a data directory another ``caps demo`` is using.
    """
    import anyio

    from cap_opendal_core.errors import InvalidInput

    if isinstance(events, bool) or not isinstance(events, int) or not 1 <= events <= MAX_EVENTS:
        raise InvalidInput(f"--events must be from 1 to {MAX_EVENTS}, got {events}", field="events")
    _require_capability_packages()
    stream = out if out is not None else sys.stdout
    with _quiet_logging(verbose):
        code: int = anyio.run(_main, data_dir, events, clean, stream, otel)
    return code


async def _main(data_dir: Path, events: int, clean: bool, out: TextIO, otel: bool = False) -> int:
    import shutil

    from cap_opendal_core.metrics import metrics

    from .flow import IngestReport, ingest
    from .local import LocalDemo
    from .observe import DeclaredNode, FlowObserver, declared_nodes, demo_flow, demo_manifest

    flow = demo_flow()
    manifest = demo_manifest()
    run = _Run(events, data_dir)
    tracing = _tracing(out) if otel else None
    try:
        demo = LocalDemo.open(
            data_dir, manifest=manifest, settings=None if tracing is None else tracing.settings()
        )
    except OSError as exc:
        raise Misconfigured(f"cannot use --data-dir {str(data_dir)!r}: {exc.strerror or exc}") from exc
    async with demo:
        print(
            f"caps demo: the flow {flow['name']!r} on the embedded local backends, in {data_dir}\n"
            "(no account, no configuration, no network)",
            file=out,
        )
        _section_plugins(out)
        _section_validate(out, flow, run)
        _section_preflight(out, demo, manifest, flow, run)
        declared = {**declared_nodes(flow), "peek_index": DeclaredNode.from_node(WRONG_NODE)}
        observer = FlowObserver(declared, span=None if tracing is None else tracing.span)
        metrics.reset()  # this process is the demo: count only its own calls

        from contextlib import nullcontext

        from .events import MAX_EVENTS_PER_SUBMIT, make_events

        root = nullcontext() if tracing is None else tracing.span("caps demo")
        with root:  # with --otel, one trace for the whole run
            heading(out, f"4. Run the flow on {events} event{'s' if events != 1 else ''}")
            run.ingest = IngestReport()
            everything = make_events(events)
            for start in range(0, len(everything), MAX_EVENTS_PER_SUBMIT):  # submissions, as a host gets them
                run.ingest.add(
                    await ingest(demo.caps, everything[start : start + MAX_EVENTS_PER_SUBMIT], observer)
                )
            _print_ingest(out, run.ingest)
            bar = ProgressBar(out, "consume", run.ingest.enqueued, unit="jobs")
            run.jobs = await demo.drain(observer, expected=run.ingest.enqueued, progress=bar.update)
            bar.finish()
            from .flow import read_summary

            run.summary = await read_summary(demo.caps)
            _print_jobs(out, run.jobs, run.summary)

            with observer.node("peek_index"):
                await _peek_index(demo.caps)
        run.nodes = observer.reports()
        run.metrics = metrics.snapshot()
        _section_observed(out, run.nodes)
        _section_metrics(out, run.metrics)
        if tracing is not None:
            _section_traces(out, tracing)
        _section_data(out, demo, manifest)

    _section_closing(out, run)
    _write_record(data_dir, run)
    if clean:
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"\n  removed {data_dir} (--clean)", file=out)
    return 1 if run.unexpected() else 0


def _tracing(out: TextIO) -> DemoTracing | None:
    from .traces import DemoTracing

    tracing = DemoTracing.create()
    if tracing is None:
        print(
            "caps demo --otel: the OpenTelemetry SDK is not installed (pip install opentelemetry-sdk); "
            "running without traces",
            file=out,
        )
    return tracing


# --- the sections ----------------------------------------------------------------------------------


def _section_traces(out: TextIO, tracing: DemoTracing) -> None:
    from .traces import render_tree

    spans = tracing.spans()
    heading(
        out,
        f"6b. Traces (--otel): the run's {len(spans)} OpenTelemetry spans; same-named siblings folded, "
        "their times summed",
    )
    render_tree(out, spans)


def _section_plugins(out: TextIO) -> None:
    from cap_opendal_core.plugins import discover

    heading(out, "1. Capability plugins (entry point group cap_opendal_core.capabilities)")
    plugins = discover()
    rows = []
    for p in plugins:
        d = p.descriptor
        try:
            p.constructor("local")
            status = "ready"
        except Misconfigured:
            status = "unavailable (does not import)"
        rows.append([p.name, p.distribution, p.binding_kind, f"{d.consistency}/{d.durability}", status])
    table(out, ["PLUGIN", "PACKAGE", "BINDING", "CONSISTENCY/DURABILITY", "STATUS"], rows)
    for problem in plugins.problems:
        print(f"  broken plugin: {problem}", file=out)


def _section_validate(out: TextIO, flow: dict[str, Any], run: _Run) -> None:
    from cap_opendal_core.validate import validate_flow

    heading(
        out, f"2. Validate the flow: each node's declaration against its hints ({len(flow['nodes'])} nodes)"
    )
    table(
        out,
        ["NODE", "EFFECTS", "DETERMINISM", "IDEMPOTENCY KEY", "EFFECT HINTS (resource::…)"],
        [
            [
                n["alias"],
                n["effects"],
                n["determinism"],
                (n.get("idempotency") or {}).get("key") or "-",
                _short(n.get("effectHints", ())),
            ]
            for n in flow["nodes"]
        ],
    )
    run.validate = validate_flow(flow)
    _print_findings(
        out, run.validate, "no diagnostics: every node declares effects and determinism its hints allow"
    )

    wrong_flow = {**flow, "nodes": [*flow["nodes"], WRONG_NODE]}
    run.wrong = [d for d in validate_flow(wrong_flow) if d.node == WRONG_NODE["alias"]]
    print(
        f"\n  A deliberately wrong node, {WRONG_NODE['alias']!r}, declares "
        f"{WRONG_NODE['effects']}/{WRONG_NODE['determinism']} but records resource::kv::write. "
        "The validator catches it:",
        file=out,
    )
    for d in run.wrong:
        _print_diagnostic(out, d, "    ")


def _section_preflight(out: TextIO, demo: LocalDemo, manifest: Any, flow: dict[str, Any], run: _Run) -> None:
    from cap_opendal_core.preflight_check import preflight

    heading(out, "3. Preflight: the local capabilities against the flow's binding manifest")
    bag = demo.bag()
    rows = []
    for spec in manifest:
        entry = bag.entry(spec.name) if spec.name in bag else None
        d = entry.descriptor if entry is not None else None
        have = "-" if d is None else ", ".join(f"{k}={getattr(d, k)}" for k in spec.requires) or "-"
        rows.append(
            [
                spec.name,
                spec.kind,
                type(entry.capability).__name__ if entry is not None else "missing",
                ", ".join(f"{k} {r.describe()}" for k, r in spec.requires.items()) or "-",
                have,
            ]
        )
    table(out, ["BINDING", "KIND", "CAPABILITY", "REQUIRES", "PROVIDES"], rows)
    run.preflight = preflight(manifest, bag, flow=flow)
    _print_findings(
        out,
        run.preflight,
        f"no diagnostics: all {len(manifest)} bindings present and compatible, every resource hint provided",
    )


def _print_ingest(out: TextIO, report: IngestReport) -> None:
    print(f"  ingest: {report.received} events received", file=out)
    print(f"    stored {report.created} new payload(s) in R2 (put-if-absent)", file=out)
    if report.existing:
        print(
            f"    found {report.existing} event(s) already ingested by an earlier run: "
            "their stored copies are kept",
            file=out,
        )
    if report.conflicts:
        print(
            f"    {len(report.conflicts)} id(s) already hold a different payload, not indexed or enqueued: "
            + ", ".join(report.conflicts[:5]),
            file=out,
        )
    indexed = report.received - len(report.conflicts)
    print(f"    indexed {indexed} event(s) in KV; enqueued {report.enqueued} job(s), one per event", file=out)


def _print_jobs(out: TextIO, jobs: JobsReport, summary: dict[str, Any] | None) -> None:
    print(
        f"  jobs: {jobs.received} received, {jobs.processed} counted once each, "
        f"{jobs.duplicates} duplicate(s) skipped by Dedupe, {jobs.retried} retried, {jobs.rejected} rejected",
        file=out,
    )
    if jobs.duplicates:
        print(
            f"    the {jobs.duplicates} duplicate(s) were already claimed in the Dedupe ledger, so their "
            "effect (counting into summary.json) did not happen twice",
            file=out,
        )
    if summary is not None:
        print(
            f"    summary.json now counts {summary['events']} event(s) in total "
            f"({summary['updates']} update(s) so far)",
            file=out,
        )


def _section_observed(out: TextIO, reports: list[NodeReport]) -> None:
    heading(out, "5. Declared vs observed: one InvocationScope per node execution")
    rows = []
    for r in reports:
        verdict = "ok" if r.ok else ", ".join(sorted({d.code for d in r.diagnostics}))
        if r.alias == WRONG_NODE["alias"]:
            verdict += " (deliberately wrong)"
        rows.append(
            [
                r.alias,
                r.runs,
                r.calls,
                f"{r.declared.effects.json}/{r.declared.determinism.json}",
                f"{r.effects.json}/{r.determinism.json}",
                _short(r.effect_hints),
                verdict,
            ]
        )
    table(out, ["NODE", "RUNS", "CALLS", "DECLARED", "OBSERVED", "HINTS SEEN (resource::…)", "VERDICT"], rows)
    for r in reports:
        if r.diagnostics:
            print(f"\n  {r.alias}: its scope saw what it did and disagrees with what it declared:", file=out)
            for d in r.diagnostics:
                _print_diagnostic(out, d, "    ")


def _section_metrics(out: TextIO, snapshot: dict[str, Any]) -> None:
    heading(out, "6. Metrics per capability and operation (cap_opendal_core.metrics.snapshot())")
    rows = []
    for capability, ops in snapshot.items():
        for op, m in ops.items():
            errors = sum(m["errors"].values())
            rows.append(
                [capability, op, m["count"], m["ok"], errors, m["retries"], _ms(m["p50"]), _ms(m["p99"])]
            )
    table(out, ["CAPABILITY", "OPERATION", "CALLS", "OK", "ERRORS", "RETRIES", "P50", "P99"], rows)


def _section_data(out: TextIO, demo: LocalDemo, manifest: Any) -> None:
    from cap_opendal_core.wrangler import render_wrangler

    heading(out, "7. Where the data lives")
    rows = [
        [binding, what, str(path), human_bytes(_size(path))] for binding, what, path in demo.layout.rows()
    ]
    wrangler = demo.layout.root / "wrangler.toml"
    _write_text(wrangler, render_wrangler(manifest))
    record = demo.layout.root / "last-run.json"
    rows.append(
        [
            "-",
            "wrangler.toml for the same manifest (caps wrangler)",
            str(wrangler),
            human_bytes(_size(wrangler)),
        ]
    )
    rows.append(["-", "this run's record (JSON)", str(record), "-"])
    table(out, ["BINDING", "WHAT", "PATH", "SIZE"], rows)
    print(
        f"  summary.json is an object in the PAYLOADS bucket; delete {demo.layout.root} (or pass --clean) "
        "to start over",
        file=out,
    )


def _section_closing(out: TextIO, run: _Run) -> None:
    heading(out, "8. This run and the running totals")
    ingest, jobs, summary = run.ingest, run.jobs, run.summary or {}
    assert ingest is not None
    assert jobs is not None
    rows: list[list[object]] = [
        ["events received", ingest.received, "-"],
        ["payloads stored (new)", ingest.created, "-"],
        ["already ingested", ingest.existing, "-"],
        ["jobs enqueued", ingest.enqueued, "-"],
        ["jobs counted (exactly once)", jobs.processed, summary.get("events", 0)],
        ["duplicates skipped by Dedupe", jobs.duplicates, "-"],
        ["payload bytes counted", jobs.bytes, summary.get("bytes", 0)],
        ["purchases (cents)", "-", summary.get("amount_cents", 0)],
    ]
    for kind, count in (summary.get("by_kind") or {}).items():
        rows.append([f"  kind {kind}", "-", count])
    table(out, ["WHAT", "THIS RUN", "SUMMARY.JSON"], rows)
    unexpected = run.unexpected()
    if unexpected:
        print(f"\n  {len(unexpected)} unexpected diagnostic(s): see above", file=out)
    else:
        print(
            "\n  every node did what it declared; run `caps demo` again: nothing is stored or counted twice",
            file=out,
        )


# --- helpers ---------------------------------------------------------------------------------------


async def _peek_index(caps: DemoCapabilities) -> None:
    """What the deliberately wrong node really does: a write it does not declare."""
    await caps.index.put("cache:last-peek", "peeked")


def _print_diagnostic(out: TextIO, d: Diagnostic, indent: str) -> None:
    """``CODE node hint=… declared=… required=…``, then its guidance wrapped beneath."""
    import textwrap

    head = str(d).removesuffix(f": {d.message}")
    print(f"{indent}{head}", file=out)
    for line in textwrap.wrap(d.message, width=96):
        print(f"{indent}  {line}", file=out)


def _print_findings(out: TextIO, diags: list[Diagnostic], ok: str) -> None:
    for d in diags:
        _print_diagnostic(out, d, "  ")
    print(f"  {len(diags)} diagnostic(s)" if diags else f"  {ok}", file=out)


def _short(hints: Any) -> str:
    """Hints without the common ``resource::`` prefix, for narrower tables."""
    return ", ".join(h.removeprefix("resource::") for h in hints) or "-"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for p in path.rglob("*"):
        if p.is_file():
            total += p.stat().st_size
    return total


def _write_text(path: Path, text: str) -> None:
    """Via a sibling temporary file and a rename, so a reader never sees half a file."""
    import os
    import secrets

    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_record(data_dir: Path, run: _Run) -> None:
    record = {
        "events": run.events,
        "validate": [d.to_dict() for d in run.validate],
        "wrong_node": [d.to_dict() for d in run.wrong],
        "preflight": [d.to_dict() for d in run.preflight],
        "ingest": run.ingest.to_dict() if run.ingest else None,
        "jobs": run.jobs.to_dict() if run.jobs else None,
        "summary": run.summary,
        "nodes": [r.to_dict() for r in run.nodes],
        "metrics": {cap: {op: m["count"] for op, m in ops.items()} for cap, ops in run.metrics.items()},
    }
    _write_text(data_dir / "last-run.json", json.dumps(record, indent=2) + "\n")


def _require_capability_packages() -> None:
    from importlib.util import find_spec

    missing = [dist for module, dist in CAPABILITY_PACKAGES.items() if find_spec(module) is None]
    if missing:
        raise Misconfigured(
            "caps demo runs the four capability packages; install the missing one(s): "
            f"pip install {' '.join(missing)}"
        )


@contextmanager
def _quiet_logging(verbose: bool) -> Iterator[None]:
    """Warnings and errors only (every call with ``verbose``), on stderr; restores the old setup."""
    import logging

    import structlog

    previous = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if verbose else logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**previous)

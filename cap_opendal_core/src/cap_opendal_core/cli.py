"""``caps``: the command line of cap-*.

``caps hints`` lists every registered hint and who registered it; ``caps validate`` checks a Flow IR
file (or standard input) against every rule and prints text, JSON or SARIF; ``caps preflight`` checks
a flow (and optionally a manifest) against a file describing the bindings a host has;
``caps wrangler`` renders a manifest as ``wrangler.toml`` binding sections. Other distributions add
commands through the entry point group ``cap_opendal_core.commands`` (:mod:`.commands`): ``caps demo``
comes from ``cap-demo``.

Exit codes: 0 clean, 1 diagnostics found, 2 bad input (a clear message on stderr). Everything beyond
``argparse`` is imported inside the command that needs it, so ``caps --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .commands import CommandProblem
    from .diagnostics import Diagnostic
    from .plugins import PluginSet
    from .reporting import Format

__all__ = ["main"]

EXIT_OK = 0
EXIT_DIAGNOSTICS = 1
EXIT_BAD_INPUT = 2


class _BadInput(Exception):
    """A problem with what the user gave us; printed as one line, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``caps`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser, problems = _parser()
    args = parser.parse_args(argv)
    for problem in problems:
        print(f"caps: warning: broken command {problem}", file=sys.stderr)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    from .errors import InvalidInput, Misconfigured

    try:
        code: int = args.run(args)
    except (InvalidInput, Misconfigured, _BadInput) as exc:
        message = exc.message if isinstance(exc, InvalidInput | Misconfigured) else str(exc)
        print(f"caps {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `caps hints | head`
        return EXIT_OK
    return code


BUILTIN_COMMANDS: Final = ("hints", "validate", "preflight", "wrangler")


def _parser() -> tuple[argparse.ArgumentParser, list[CommandProblem]]:
    """The parser with the built-in commands and every installed one, and the entry points that failed."""
    from . import __version__
    from .commands import discover_commands

    commands, problems = discover_commands(reserved=BUILTIN_COMMANDS)

    parser = argparse.ArgumentParser(
        prog="caps",
        description="cap-*: one async interface to Workers KV, R2, Queues and Durable Objects.",
        epilog="Exit codes: 0 clean, 1 diagnostics found, 2 bad input.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("hints", help="list every registered hint and which package registered it")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=_cmd_hints)

    p = sub.add_parser(
        "validate",
        help="check a Flow IR file against every graph and capability rule",
        description=(
            "Report every diagnostic of the Flow IR rules (graph shape, declared effects and "
            "determinism against hints, exactly-once delivery, edge budgets) for FLOW.json; '-' "
            "reads standard input. Malformed input (bad JSON, a repeated key, a value of the wrong "
            "type or out of range, too deep or too large) exits 2 with one line naming the problem."
        ),
    )
    p.add_argument("flow", metavar="FLOW.json", help="a Flow IR JSON file, or - for standard input")
    _add_format(p)
    p.set_defaults(run=_cmd_validate)

    p = sub.add_parser(
        "preflight",
        help="check that a host's bindings provide what a flow (and its manifest) needs",
        description=(
            "Report CAP101 (a binding or hint provider is missing) and CAP102 (a binding's descriptor "
            "does not meet a requirement). TARGET is a Flow IR file or a binding manifest. --bindings "
            "names a JSON/TOML file describing the bindings present: "
            "{bindings: {NAME: {kind, descriptor?, provides?}}}; descriptor and provides default to "
            "the installed plugin of that kind."
        ),
    )
    p.add_argument(
        "target", metavar="FLOW_OR_MANIFEST", help="a Flow IR .json file or a manifest .json/.toml"
    )
    p.add_argument("--bindings", required=True, metavar="FILE", help="JSON/TOML file of the bindings present")
    p.add_argument(
        "--manifest", metavar="FILE", help="a binding manifest to check too (when TARGET is a flow)"
    )
    _add_format(p)
    p.set_defaults(run=_cmd_preflight)

    p = sub.add_parser("wrangler", help="render a binding manifest as wrangler.toml binding sections")
    p.add_argument("manifest", metavar="MANIFEST", help="a binding manifest (.json or .toml)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--name", help="Worker name (overrides the manifest's [worker] name)")
    p.add_argument("--main", help="entry module (overrides the manifest's [worker] main)")
    p.add_argument("--compatibility-date", metavar="YYYY-MM-DD", help="overrides the manifest's")
    p.set_defaults(run=_cmd_wrangler)

    for name, command in commands.items():
        p = sub.add_parser(name, help=command.help, description=command.description, epilog=command.epilog)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser, problems


def _add_format(p: argparse.ArgumentParser) -> None:
    from .reporting import FORMATS

    p.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (one line per diagnostic, the default), json (an array), or sarif (SARIF 2.1.0)",
    )
    p.add_argument(
        "--json", dest="format", action="store_const", const="json", help="the same as --format json"
    )


# --- commands --------------------------------------------------------------------------------------


def _cmd_hints(args: argparse.Namespace) -> int:
    import json

    from .hints import registry
    from .plugins import discover

    plugins = discover()
    rows: list[dict[str, Any]] = []
    for c in registry:
        providers = [p.distribution for p in plugins.providers_of(c.hint)]
        rows.append(
            {
                "hint": c.hint,
                "kind": c.kind,
                "minimum": c.minimum.json,
                "registered_by": c.source,
                "provided_by": providers,
                "why": c.why,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(
            ["HINT", "KIND", "MINIMUM", "REGISTERED BY", "PROVIDED BY"],
            [
                [r["hint"], r["kind"], r["minimum"], r["registered_by"], ", ".join(r["provided_by"]) or "-"]
                for r in rows
            ],
        )
    _report_problems(plugins)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from .plugins import discover
    from .validate import validate_flow

    plugins = discover()  # plugins may register hints the flow uses
    source: str | bytes = _stdin_flow() if args.flow == "-" else _existing(args.flow, "flow")
    try:
        diags = validate_flow(source)
    except (RecursionError, MemoryError) as exc:  # the reader bounds both; never a traceback regardless
        raise _BadInput(
            f"{args.flow}: too large or too deeply nested to read ({type(exc).__name__})"
        ) from None
    _print_diagnostics(diags, args.format, args.flow)
    _report_problems(plugins)
    return EXIT_DIAGNOSTICS if diags else EXIT_OK


def _stdin_flow() -> bytes:
    from .jsondoc import MAX_DOCUMENT_BYTES

    raw = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _BadInput(f"standard input is larger than the limit of {MAX_DOCUMENT_BYTES} bytes")
    if not raw.strip():
        raise _BadInput("standard input is empty; pipe a Flow IR document into `caps validate -`")
    return raw


def _cmd_preflight(args: argparse.Namespace) -> int:
    from .bag import load_bindings
    from .manifest import load_manifest
    from .plugins import discover
    from .preflight_check import preflight

    plugins = discover()
    bag = load_bindings(_existing(args.bindings, "bindings file"))
    target = _existing(args.target, "flow or manifest")
    if args.manifest:
        diags = preflight(load_manifest(_existing(args.manifest, "manifest")), bag, flow=target)
    else:
        diags = preflight(target, bag)
    _print_diagnostics(diags, args.format, args.target)
    _report_problems(plugins)
    return EXIT_DIAGNOSTICS if diags else EXIT_OK


def _cmd_wrangler(args: argparse.Namespace) -> int:
    from .manifest import load_manifest
    from .wrangler import render_wrangler

    manifest = load_manifest(_existing(args.manifest, "manifest"))
    text = render_wrangler(
        manifest, name=args.name, main=args.main, compatibility_date=args.compatibility_date
    )
    if args.output:
        _write_atomically(Path(args.output), text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --- helpers ---------------------------------------------------------------------------------------


def _existing(path: str, what: str) -> str:
    if not Path(path).is_file():
        raise _BadInput(f"{what} {path!r} does not exist or is not a file")
    return path


def _write_atomically(path: Path, text: str) -> None:
    """Write via a sibling temporary file and rename, so readers never see half a file."""
    import os
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:  # default mode, honours umask
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _print_diagnostics(diags: Sequence[Diagnostic], fmt: Format, label: str) -> None:
    """Diagnostics on stdout in ``fmt`` (see :mod:`cap_opendal_core.reporting`); the count on stderr."""
    from .reporting import render

    text = render(diags, fmt, artifact=None if label == "-" else label)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    # A flow's strings may hold what the terminal cannot show (a lone surrogate): escape, never fail.
    sys.stdout.write(text.encode(encoding, "backslashreplace").decode(encoding))
    sys.stdout.flush()
    summary = f"{label}: {len(diags)} diagnostic(s)" if diags else f"{label}: no diagnostics"
    print(summary, file=sys.stderr)


def _print_findings(diags: Sequence[Diagnostic], out: TextIO, ok: str) -> None:
    for d in diags:
        print(f"  {d}", file=out)
    print(f"  {len(diags)} diagnostic(s)" if diags else f"  {ok}", file=out)


def _collapse(hints: Sequence[str]) -> str:
    """The provided hints without those another one already covers: the families, for display."""
    from .plugins import hint_covers

    tops = [h for h in hints if not any(o != h and hint_covers(o, h) for o in hints)]
    return ", ".join(tops)


def _report_problems(plugins: PluginSet) -> None:
    for problem in plugins.problems:
        print(f"caps: warning: broken capability plugin {problem}", file=sys.stderr)


def _heading(out: TextIO, text: str) -> None:
    print(f"\n{text}", file=out)


def _print_table(header: list[str], rows: list[list[str]], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    widths = [max(len(str(cell)) for cell in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

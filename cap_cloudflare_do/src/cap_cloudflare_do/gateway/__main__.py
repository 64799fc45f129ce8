"""``python -m cap_cloudflare_do.gateway``: print the gateway Worker or its wrangler configuration.

python -m cap_cloudflare_do.gateway worker
python -m cap_cloudflare_do.gateway wrangler --binding FLOW_DO=FlowObject --script-name flow-worker
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cap_opendal_core.errors import CapabilityError

from . import GATEWAY_NAME, render_gateway_wrangler, worker_source

if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cap_cloudflare_do.gateway", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="print the gateway Worker's JavaScript module")
    p = sub.add_parser("wrangler", help="print the gateway's wrangler.toml")
    p.add_argument(
        "--binding",
        action="append",
        required=True,
        metavar="NAME=CLASS",
        help="a Durable Object binding to front and its class (repeatable)",
    )
    p.add_argument("--script-name", required=True, help="the Worker that defines the classes")
    p.add_argument("--name", default=GATEWAY_NAME, help=f"the gateway Worker's name (default {GATEWAY_NAME})")
    p.add_argument("--compatibility-date", metavar="YYYY-MM-DD")
    args = parser.parse_args(argv)
    if args.command == "worker":
        sys.stdout.write(worker_source())
        return 0
    bindings: dict[str, str] = {}
    for item in args.binding:
        name, sep, class_name = item.partition("=")
        if not sep or not name or not class_name:
            print(f"error: --binding takes NAME=CLASS, got {item!r}", file=sys.stderr)
            return 2
        bindings[name] = class_name
    try:
        text = render_gateway_wrangler(
            bindings, script_name=args.script_name, name=args.name, compatibility_date=args.compatibility_date
        )
    except CapabilityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

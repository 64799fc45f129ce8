"""The ``durable_object`` binding kind: its manifest keys and its ``[[durable_objects.bindings]]`` and
``[[migrations]]`` wrangler sections.

Keys per docs/preflight-and-wrangler.md; the sections per
developers.cloudflare.com/durable-objects/reference/durable-objects-migrations/ (a class defined
here is created by exactly one migration, ``new_sqlite_classes``; one defined in another Worker,
``script_name``, is migrated there).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from cap_opendal_core.binding_kinds import BindingKindSpec
from cap_opendal_core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cap_opendal_core.manifest import BindingSpec, ManifestReader

__all__ = ["BINDING", "DEFAULT_MIGRATION_TAG"]

DEFAULT_MIGRATION_TAG: Final = "v1"
_CLASS_NAME: Final = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_MIGRATION_TAG: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_WORKER_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _parse(r: ManifestReader) -> Mapping[str, Any]:
    script_name = r.string("script_name", _WORKER_NAME, "a Worker name")
    tag = r.string("migration_tag", _MIGRATION_TAG, "letters, digits, '.', '-' and '_'")
    if script_name is not None and tag is not None:
        raise r.fail("migration_tag", "a class defined in another Worker (script_name) is migrated there")
    return {
        "class_name": r.string("class_name", _CLASS_NAME, "a class name (identifier)"),
        "script_name": script_name,
        "migration_tag": tag,
    }


def _render(specs: Sequence[BindingSpec], source: str) -> list[str]:
    from cap_opendal_core.wrangler import need, table

    lines: list[str] = []
    migrations: dict[str, list[str]] = {}
    tag_of: dict[str, str] = {}
    for spec in specs:
        class_name = need(spec, "class_name")
        script_name = spec.details["script_name"]
        lines.extend(
            table(
                "durable_objects.bindings",
                [("name", spec.name), ("class_name", class_name), ("script_name", script_name)],
            )
        )
        if script_name is not None:
            continue  # defined and migrated by the other Worker
        tag = spec.details["migration_tag"] or DEFAULT_MIGRATION_TAG
        if tag_of.setdefault(class_name, tag) != tag:
            raise InvalidInput(
                f"{source}: class {class_name!r} is given migration tags {tag_of[class_name]!r} "
                f"and {tag!r}; a class is created by exactly one migration",
                field=f"bindings.{spec.name}.migration_tag",
            )
        classes = migrations.setdefault(tag, [])
        if class_name not in classes:
            classes.append(class_name)
    for tag, classes in migrations.items():
        lines.extend(table("migrations", [("tag", tag), ("new_sqlite_classes", classes)]))
    return lines


BINDING: Final = BindingKindSpec(
    kind="durable_object",
    keys=("class_name", "script_name", "migration_tag"),
    parse=_parse,
    render=_render,
    wrangler_order=40,
)

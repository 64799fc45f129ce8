"""What the differential tests share: comparing a local record with the binding's, step by step."""

from __future__ import annotations

import json
from typing import Any


def first_difference(local: list[Any], binding: list[Any], *, clip: int = 900) -> str:
    """Where two records first part: the step number and both sides (clipped), or their lengths."""
    for index, (mine, theirs) in enumerate(zip(local, binding, strict=False)):
        if mine != theirs:
            return (
                f"step {index}:\n  local:   {json.dumps(mine)[:clip]}\n  binding: {json.dumps(theirs)[:clip]}"
            )
    return f"lengths differ: local {len(local)}, binding {len(binding)}"


def assert_same_record(local: list[Any], binding: list[Any]) -> None:
    """The local backend observed, step by step, what the binding observed."""
    assert local == binding, first_difference(local, binding)

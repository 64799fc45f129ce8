"""Translated causes lose their library frames: a traceback rendered with locals cannot show a token.

Issue 9 found it: httpx's ``AsyncClient.request`` frame holds the request's headers — bearer token
included — as a local variable, and structlog's ``dict_tracebacks`` (like its console renderer and
error trackers) prints locals by default.
"""

from __future__ import annotations

import traceback
from typing import Any

import httpx
import pytest

from cap_opendal_core.errors import Unavailable
from cap_opendal_core.layers import LayerSettings, Operation, Pipeline
from cap_opendal_core.metrics import Metrics
from cap_opendal_core.redact import trim_foreign_frames
from cap_opendal_core.translate import from_exception

TOKEN = "tb-secret-token-0123456789abcdefghij"
GET = Operation("kv", "get", "resource::kv::read", "resource::kv", idempotent=True)

# A stand-in for a backend module of this project (frames are judged by their module's name).
_OWN: dict[str, Any] = {"__name__": "cap_cloudflare_fake.backend"}
exec(  # defines a function whose frames belong to a cap_* module
    "async def fetch(client, url, credentials):\n"
    "    # like the REST backends: the header is built as the request is sent, never held here\n"
    "    return await client.get(url, headers=credentials.headers())\n",
    _OWN,
)


class Credentials:
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset", request=request)


def _locals(exc: BaseException | None) -> str:
    out = []
    while exc is not None:
        out.append("".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format()))
        exc = exc.__cause__
    return "\n".join(out)


@pytest.mark.anyio
async def test_a_translated_httpx_error_keeps_our_frames_and_loses_httpx_s() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(_refuse)) as client:
        with pytest.raises(httpx.ReadError) as caught:
            await _OWN["fetch"](client, "https://api.example/x", Credentials())  # untranslated
        assert "httpx" in "".join(traceback.format_tb(caught.value.__traceback__))
        assert TOKEN in _locals(caught.value)  # what a locals-rendering traceback would have shown

        pipeline = Pipeline("kv", "test", LayerSettings(logging=False, retry=None), metrics=Metrics())
        with pytest.raises(Unavailable) as translated:
            await pipeline.call(GET, _OWN["fetch"], client, "https://api.example/x", Credentials())
    cause = translated.value.__cause__
    assert isinstance(cause, httpx.ReadError)
    frames = traceback.extract_tb(cause.__traceback__)
    assert [f.name for f in frames][-1] == "fetch"  # ours, where the call was made, is kept
    assert all("httpx" not in f.filename and "httpcore" not in f.filename for f in frames)
    assert any("frames inside httpx were cut" in note for note in cause.__notes__)
    assert TOKEN not in _locals(translated.value)


def test_trim_handles_chains_cycles_and_foreign_only_tracebacks() -> None:
    def foreign() -> None:
        raise ValueError("inner")

    try:
        try:
            foreign()
        except ValueError as inner:
            raise KeyError("outer") from inner
    except KeyError as outer:
        error = outer
    assert error.__cause__ is not None
    error.__cause__.__context__ = error  # a cycle must not loop forever
    trim_foreign_frames(error)
    assert error.__traceback__ is None  # only test (foreign) frames: all cut
    assert error.__cause__.__traceback__ is None
    assert any("were cut" in note for note in error.__notes__)
    trim_foreign_frames(error)  # idempotent
    assert sum("were cut" in note for note in error.__notes__) == 1
    translated = from_exception(ValueError("no traceback at all"), capability="kv", operation="get")
    assert translated.__cause__ is not None
    assert translated.__cause__.__traceback__ is None

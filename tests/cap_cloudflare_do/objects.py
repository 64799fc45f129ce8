"""Durable Object classes the local-runtime tests host."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel

from cap_cloudflare_do import AlarmInfo, DurableObject, Request, Response


class Counter(DurableObject):
    """Read, yield to the loop, write: only one-request-at-a-time makes 200 concurrent calls add up."""

    read_only = frozenset({"get_count", "fetch"})
    constructed = 0

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        type(self).constructed += 1
        self.calls_seen = 0  # in-memory state: lost when the object is evicted

    async def increment(self, by: int = 1) -> int:
        current = (await self.storage.get("count")) or 0
        await anyio.lowlevel.checkpoint()  # another request would interleave here without the object's lock
        await self.storage.put("count", current + by)
        self.calls_seen += 1
        return int(current + by)

    async def get_count(self) -> int:
        return int((await self.storage.get("count")) or 0)

    async def seen(self) -> int:
        return self.calls_seen

    async def echo(self, value: Any) -> Any:
        return value

    async def mutate(self, value: list[Any]) -> list[Any]:
        value.append("changed by the object")
        return value

    async def boom(self, message: str) -> None:
        raise ValueError(message)

    async def give_back_a_set(self) -> Any:
        return {1, 2}

    def sync_method(self, x: int) -> int:
        return x * 2

    async def fetch(self, request: Request) -> Response:
        return Response.from_json(
            {
                "url": request.url,
                "method": request.method,
                "body": await request.text(),
                "x": request.headers.get("x-test"),
            },
            status=201,
            headers={"X-Reply": "yes"},
        )

    async def _private(self) -> str:
        return "hidden"


class Alarmed(DurableObject):
    """Records each alarm run; can be told to fail the next ones."""

    async def schedule(self, epoch_ms: int) -> None:
        await self.storage.set_alarm(epoch_ms)

    async def alarm_at(self) -> int | None:
        return await self.storage.get_alarm()

    async def fail_next(self, times: int) -> None:
        await self.storage.put("fail", times)

    async def runs(self) -> list[Any]:
        return list((await self.storage.get("runs")) or [])

    async def alarm(self, info: AlarmInfo) -> None:
        failing = (await self.storage.get("fail")) or 0
        runs = list((await self.storage.get("runs")) or [])
        runs.append({"retry": info.retry_count, "at": self.now()})
        await self.storage.put("runs", runs)
        if failing:
            await self.storage.put("fail", failing - 1)
            raise RuntimeError("alarm failed on purpose")


class Plain(DurableObject):
    """No fetch, no alarm."""

    async def ping(self) -> str:
        return "pong"

    async def try_alarm(self) -> None:
        await self.storage.set_alarm(0)


class StorageUser(DurableObject):
    """Runs arbitrary storage scripts inside the object (the test passes a coroutine function)."""

    async def nothing(self) -> None:
        return None


class Box(DurableObject):
    """A key-value box and nothing else: for tests about where and how the runtime stores, not what."""

    async def put(self, key: str, value: str) -> None:
        await self.ctx.storage.put(key, value)

    async def get(self, key: str) -> Any:
        return await self.ctx.storage.get(key)

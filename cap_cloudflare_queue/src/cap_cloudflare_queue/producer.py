"""``Queue``: the producer side, one class for every backend.

It validates and encodes every message before any I/O (so a bad batch sends nothing), moves oversized
bodies to claim-check storage when it has one, splits batches into what the service accepts, and sends
each request through the layer pipeline exactly once — sends are never retried automatically, because
a send that failed ambiguously (a timeout, a 5xx) may already be in the queue. When a split batch fails
part-way, :class:`~cap_cloudflare_queue.errors.BatchPartiallySent` says which messages went out.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, Unpack

from cap_opendal_core.capability import (
    Capability,
    check_binding,
    check_options,
    local_order_hint,
    workers_only,
)
from cap_opendal_core.errors import (
    CapabilityError,
    Forbidden,
    InvalidInput,
    LimitExceeded,
    Misconfigured,
    NotFound,
    RateLimited,
    Unauthorized,
    Unsupported,
)

from .errors import BatchPartiallySent
from .limits import DEFAULT_CONTENT_TYPE, MAX_BODY_BYTES, ContentType
from .operations import CAPABILITY, SEND, SEND_BATCH
from .spec import SPEC
from .validation import (
    check_content_type,
    check_delay,
    check_message_size,
    check_queue_name,
    plan_batches,
    prepare_message,
    send_requests,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from cap_opendal_core.capability import CapabilityOptions
    from cap_opendal_core.descriptors import Descriptor

    from .backends.base import ProducerBackend
    from .claim_check import ClaimCheck
    from .codec import BodyCodec
    from .config import CloudflareQueueConfig
    from .models import MessageSendRequest, PreparedMessage
    from .typed import TypedQueue

__all__ = ["Queue"]

T = TypeVar("T")

if TYPE_CHECKING:
    from pydantic import BaseModel

    _Model = TypeVar("_Model", bound=BaseModel)

# Errors that prove the service refused the request, so nothing was enqueued.
_DEFINITE_REFUSALS: Final = (
    InvalidInput,
    LimitExceeded,
    RateLimited,
    Unauthorized,
    Forbidden,
    Misconfigured,
    NotFound,
    Unsupported,
)


def _not_sent(err: CapabilityError) -> bool:
    return isinstance(err, _DEFINITE_REFUSALS)


def _note_ambiguous(err: CapabilityError, what: str) -> None:
    if not _not_sent(err):
        err.add_note(
            f"{what} is not idempotent and was not retried: it may already be in the queue, so sending it "
            "again may deliver it twice"
        )


class Queue(Capability["ProducerBackend"]):
    """A Cloudflare Queue producer: ``send`` and ``send_batch`` (the binding's ``send``/``sendBatch``).

    Build it with :meth:`from_env` (inside a Python Worker), :meth:`from_config` (a server, Cloudflare's
    REST API), :meth:`local` (the embedded default, SQLite on disk) or :meth:`from_url`. ``async with``
    closes what it opened. ``claim_check`` moves bodies over its threshold to blob storage; its
    references are bound to ``queue_name`` (the queue's name as consumers see it, ``batch.queue``),
    which defaults to ``name``.
    """

    spec = SPEC

    def __init__(
        self,
        backend: ProducerBackend,
        *,
        name: str,
        claim_check: ClaimCheck | None = None,
        queue_name: str | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> None:
        from .claim_check import ClaimCheck

        super().__init__(backend, **options)

        if claim_check is not None and not isinstance(claim_check, ClaimCheck):
            raise InvalidInput(
                f"claim_check must be a ClaimCheck (wrap your store: ClaimCheck(bucket)), got "
                f"{type(claim_check).__name__}",
                field="claim_check",
            )
        self.name = name
        self.queue_name = name if queue_name is None else check_queue_name(queue_name, field="queue_name")
        self._claim_check = claim_check

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        env: Any,
        binding: str,
        *,
        queue_name: str | None = None,
        claim_check: ClaimCheck | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> Queue:
        """The producer binding ``binding`` of a Python Worker's ``env`` (raw or ``workers``-SDK wrapped).

        With ``claim_check``, ``queue_name`` is required: the queue's own name (``queue`` in the
        binding's wrangler.toml section, what consumers see as ``batch.queue``), which references are
        bound to; the binding's name is not it, and the runtime does not say."""
        if claim_check is not None and queue_name is None:
            raise Misconfigured(
                f"Queue.from_env(env, {binding!r}, claim_check=…) needs queue_name=: the queue's name as "
                "its consumers see it (batch.queue), which claim-check references are bound to",
                capability=CAPABILITY,
                operation="from_env",
            )
        checked = check_options(cls, "from_env", options)
        check_binding(env, binding, capability=CAPABILITY)
        with workers_only("Queue", CAPABILITY):
            from .backends.workers import WorkersProducer

        return cls(
            WorkersProducer.from_env(env, binding),
            name=binding,
            claim_check=claim_check,
            queue_name=queue_name,
            **checked,
        )

    @classmethod
    def from_config(
        cls,
        config: CloudflareQueueConfig | Mapping[str, Any],
        *,
        claim_check: ClaimCheck | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> Queue:
        """A queue reached through Cloudflare's REST API (``messages`` and ``messages/batch``); ``config``
        is a :class:`~cap_cloudflare_queue.config.CloudflareQueueConfig` or a mapping of its fields.
        With ``claim_check`` the config needs ``queue_name`` (references are bound to the name)."""
        from .backends.rest import RestClient, RestProducer
        from .config import CloudflareQueueConfig

        checked = check_options(cls, "from_config", options)
        model = _config(config, CloudflareQueueConfig)
        require_queue_name_for_claim_check(model, claim_check)
        return cls(
            RestProducer(RestClient(model)),
            name=model.display_name,
            claim_check=claim_check,
            **checked,
        )

    @classmethod
    def local(
        cls,
        path: str | os.PathLike[str],
        name: str,
        *,
        claim_check: ClaimCheck | None = None,
        clock: Callable[[], float] | None = None,
        durability: Literal["process", "full"] | None = None,
        synchronous: Literal["normal", "full"] | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> Queue:
        """The durable local queue ``name`` in the directory ``path`` (one SQLite file there holds every
        queue under it). The directory comes first, as for every capability's ``local``."""
        from .backends.local import LocalProducer, LocalStore

        checked = check_options(cls, "local", options)
        directory = local_arguments(path, name, "Queue")
        store = LocalStore(directory, clock=clock, durability=durability, synchronous=synchronous)
        return cls(
            LocalProducer(store, name),
            name=name,
            claim_check=claim_check,
            **checked,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        claim_check: ClaimCheck | None = None,
        clock: Callable[[], float] | None = None,
        **options: Unpack[CapabilityOptions],
    ) -> Queue:
        """``file:///absolute/dir/NAME`` (the local queue NAME under that directory; ``local://``, a
        deprecated alias, warns) or ``memory://NAME``
        (a local queue in a per-process temporary directory: shared by every queue object of this
        process, gone when it exits). Any other scheme raises ``Misconfigured`` naming it."""
        from .backends.local import LocalProducer, LocalStore

        checked = check_options(cls, "from_url", options)
        directory, name, ephemeral = _parse_url(url)
        store = LocalStore(directory, clock=clock)
        return cls(
            LocalProducer(store, name, ephemeral=ephemeral),
            name=name,
            claim_check=claim_check,
            **checked,
        )

    # -- what it is --------------------------------------------------------------------------------

    @property
    def info(self) -> Descriptor:
        """What this queue guarantees: at least once, unordered; durable unless ``memory://``."""
        descriptor = self._backend.descriptor
        if self._claim_check is None:
            return descriptor
        return dataclasses.replace(
            descriptor, extensions={**descriptor.extensions, "dev.cap.queue.claim_check": True}
        )

    def typed(self, codec: BodyCodec[T]) -> TypedQueue[T]:
        """A view of this queue that sends values of one type, encoded by ``codec`` (a
        :class:`~cap_cloudflare_queue.codec.BodyCodec`, e.g. ``JsonCodec(Job.from_dict, Job.to_dict)``):
        ``await queue.typed(JOBS).send(job)`` — mypy checks ``job`` is a ``Job``."""
        from .typed import TypedQueue

        return TypedQueue(self, codec)

    @property
    def claim_check(self) -> ClaimCheck | None:
        return self._claim_check

    def _describe(self) -> str:
        return f"name={self.name!r}, backend={self._backend.name!r}"

    # -- sending -----------------------------------------------------------------------------------

    async def send(
        self, body: Any, *, content_type: ContentType | None = None, delay_seconds: int | None = None
    ) -> None:
        """Send one message. ``content_type`` defaults to ``json``; ``delay_seconds`` (0-43,200) holds it
        back. Raises ``InvalidInput``/``LimitExceeded``/``Unsupported`` before any I/O for bad input."""
        ct = check_content_type(
            DEFAULT_CONTENT_TYPE if content_type is None else content_type,
            allowed=self._backend.content_types,
            backend=self._backend.name,
        )
        delay = check_delay(delay_seconds)
        prepared, payload = self._claim_or_check(prepare_message(None, body, ct, delay), batch=False)
        if payload is not None:
            await self._store_claims([(prepared, payload)])
        try:
            await self._pipeline.call(SEND, self._sender(), prepared, key=self.name)
        except CapabilityError as err:
            _note_ambiguous(err, "the message")
            if _not_sent(err):
                await self._delete_claims([prepared])
            raise

    async def send_batch(
        self,
        messages: Iterable[MessageSendRequest | Mapping[str, Any]],
        *,
        delay_seconds: int | None = None,
        split: bool = True,
    ) -> None:
        """Send several messages (``MessageSendRequest`` or ``{"body": …, "content_type": …,
        "delay_seconds": …}``). ``delay_seconds`` applies to messages that give none.

        Lists over 100 messages or 256 KB are split into batches the service accepts (``split=False``
        refuses them instead). All validation happens first: a bad message fails the call before any is
        sent. If a later part fails after an earlier part went out, ``BatchPartiallySent`` lists both.
        """
        if not isinstance(split, bool):
            raise InvalidInput(f"split: must be True or False, got {split!r}", field="split")
        requests = send_requests(messages)
        batch_delay = check_delay(delay_seconds)
        prepared: list[PreparedMessage] = []
        claims: list[tuple[PreparedMessage, bytes]] = []
        for i, request in enumerate(requests):
            ct = check_content_type(
                DEFAULT_CONTENT_TYPE if request.content_type is None else request.content_type,
                allowed=self._backend.content_types,
                backend=self._backend.name,
                field=f"messages[{i}].content_type",
            )
            own_delay = check_delay(request.delay_seconds, field=f"messages[{i}].delay_seconds")
            message, payload = self._claim_or_check(
                prepare_message(i, request.body, ct, batch_delay if own_delay is None else own_delay),
                batch=True,
            )
            prepared.append(message)
            if payload is not None:
                claims.append((message, payload))
        batches = plan_batches(prepared, split=split)
        await self._store_claims(claims)

        sent: list[int] = []
        for number, batch in enumerate(batches):
            try:
                await self._pipeline.call(SEND_BATCH, self._batch_sender(), batch, key=self.name)
            except CapabilityError as err:
                definite = _not_sent(err)
                unsent_from_here = [m for b in batches[number + (0 if definite else 1) :] for m in b]
                await self._delete_claims(unsent_from_here)
                if not sent:
                    _note_ambiguous(err, "the batch")
                    raise
                failed = tuple(m.index for b in batches[number:] for m in b)
                partial = BatchPartiallySent(
                    err,
                    sent=tuple(sent),
                    unsent=failed,
                    total=len(prepared),
                    capability=CAPABILITY,
                    operation="send_batch",
                    key=self.name,
                )
                if not definite:
                    partial.add_note(
                        f"messages {batch[0].index}-{batch[-1].index} failed ambiguously ({err.code}) "
                        "and may "
                        "already be in the queue"
                    )
                raise partial from err
            sent.extend(m.index for m in batch)

    # -- trace context -----------------------------------------------------------------------------

    def _traced(self) -> bool:
        otel = self._pipeline.otel
        return otel is not None and otel.queue_trace_context

    def _sender(self) -> Callable[[PreparedMessage], Awaitable[None]]:
        """The backend's ``send``, or — with ``queue_trace_context`` on — one that wraps the message in
        the send span's trace context first (inside the span, so the consumer links to the send)."""
        if not self._traced():
            return self._backend.send
        backend = self._backend

        async def send(message: PreparedMessage) -> None:
            from .tracing import with_trace

            await backend.send(with_trace(message))

        return send

    def _batch_sender(self) -> Callable[[Sequence[PreparedMessage]], Awaitable[None]]:
        if not self._traced():
            return self._backend.send_batch
        backend = self._backend

        async def send_batch(batch: Sequence[PreparedMessage]) -> None:
            from .tracing import with_trace_batch

            await backend.send_batch(with_trace_batch(batch))

        return send_batch

    # -- claim-check -------------------------------------------------------------------------------

    def _claim_or_check(
        self, message: PreparedMessage, *, batch: bool
    ) -> tuple[PreparedMessage, bytes | None]:
        """Replace an oversized body with a claim-check reference (nothing stored yet), or refuse it."""
        cc = self._claim_check
        if cc is None or not cc.needs(message.encoded_size):
            check_message_size(message, batch=batch)
            return message, None
        if message.data is None:  # v8: only the runtime can serialise it, so it cannot be stored
            where = f"messages[{message.index}]" if batch else "body"
            raise LimitExceeded(
                f"{where}: the v8 body is about {message.encoded_size} bytes, over the claim-check "
                "threshold; v8 bodies cannot be claim-checked (only the runtime encodes them): send it as "
                "json or bytes",
                limit="queue.message_bytes",
                value=message.encoded_size,
                maximum=min(cc.threshold, MAX_BODY_BYTES),
            )
        reference = cc.reference(self.queue_name, message.data, message.content_type)
        replaced = prepare_message(
            message.index if batch else None, reference.to_body(), "json", message.delay_seconds
        )
        check_message_size(replaced, batch=batch)
        return dataclasses.replace(replaced, index=message.index, claim_key=reference.key), message.data

    async def _store_claims(self, claims: Sequence[tuple[PreparedMessage, bytes]]) -> None:
        cc = self._claim_check
        if cc is None or not claims:
            return
        self._check_open("send")  # claim storage is I/O before the pipeline's own check
        stored: list[PreparedMessage] = []
        try:
            for message, payload in claims:
                assert message.claim_key is not None
                await cc.store(message.claim_key, payload)
                stored.append(message)
        except BaseException:
            await self._delete_claims(stored)
            raise

    async def _delete_claims(self, messages: Sequence[PreparedMessage]) -> None:
        """Best-effort removal of stored bodies whose messages were certainly not sent."""
        cc = self._claim_check
        if cc is None:
            return
        for message in messages:
            if message.claim_key is None:
                continue
            try:
                await cc.delete(message.claim_key)
            except CapabilityError as err:
                from ._log import logger

                logger().warning("queue.claim_check.cleanup_failed", key=message.claim_key, error=err.code)


def require_queue_name_for_claim_check(config: CloudflareQueueConfig, claim_check: object) -> None:
    """Over REST a queue is known by its id; claim-check references are bound to its *name* (what a
    Worker consumer sees), so a claim-checked REST queue must be given the name."""
    if claim_check is not None and config.queue_name is None:
        raise Misconfigured(
            "a claim_check over Cloudflare's REST API needs queue_name in the config: the queue's name as "
            "consumers see it (batch.queue), which claim-check references are bound to",
            capability=CAPABILITY,
            operation="from_config",
        )


def _config(config: object, model: type[_Model]) -> _Model:
    """``config`` as the pydantic model, a mapping validated into one (errors become ``Misconfigured``)."""
    if isinstance(config, model):
        return config
    if isinstance(config, Mapping):
        from pydantic import ValidationError

        from cap_opendal_core.operators.config import misconfigured_from

        try:
            return model.model_validate(dict(config))
        except ValidationError as exc:
            raise misconfigured_from(exc, model.__name__, capability=CAPABILITY) from None
    raise Misconfigured(
        f"expected a {model.__name__} (or a mapping of its fields), got {type(config).__name__}",
        capability=CAPABILITY,
        operation="from_config",
    )


def local_arguments(path: object, name: object, owner: str) -> str:
    """``local(path, name)``'s arguments checked before any I/O; the directory, resolved.

    ``local`` used to take the name first; a call in that order passes a directory as the name,
    so a name that reads as a path (a ``PathLike``, or a ``str`` with a separator) is refused with
    the new order spelled out, rather than as a bad queue name."""
    from .backends.local import check_directory

    if isinstance(name, os.PathLike) or (isinstance(name, str) and ("/" in name or os.sep in name)):
        raise Misconfigured(
            f"the queue name reads as a directory ({type(name).__name__}): "
            + local_order_hint(owner, "name"),
            capability=CAPABILITY,
            operation="local",
        )
    check_queue_name(name)
    return check_directory(path)  # type: ignore[arg-type]  # local_root refuses what is not a path


def _parse_url(url: object) -> tuple[str, str, bool]:
    """``(directory, queue name, ephemeral)`` for ``file:///dir/NAME`` (or ``local://``) and ``memory://NAME``."""
    from urllib.parse import unquote, urlsplit

    if not isinstance(url, str):
        raise InvalidInput(f"url: must be a string, got {type(url).__name__}", field="url")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise Misconfigured(
            "queue URL takes no query or fragment", capability=CAPABILITY, operation="from_url"
        )
    if parts.scheme == "memory":
        from .backends.local import memory_directory

        name = unquote(parts.netloc or parts.path.strip("/"))
        check_queue_name(name, field="url")
        return str(memory_directory()), name, True
    if parts.scheme == "local":
        import warnings

        warnings.warn(
            "local:///dir/NAME queue URLs are deprecated: use file:///dir/NAME, the local scheme of every "
            "capability",
            DeprecationWarning,
            stacklevel=3,
        )
    if parts.scheme in ("file", "local"):  # file:// is every capability's scheme; local:// an alias
        if parts.netloc:
            raise Misconfigured(
                "local queue URLs have no host: file:///absolute/dir/NAME",
                capability=CAPABILITY,
                operation="from_url",
            )
        path = unquote(parts.path)
        directory, _, name = path.rstrip("/").rpartition("/")
        if not os.path.isabs(path) or not directory:
            raise Misconfigured(
                "local queue URLs need an absolute directory and a queue name: file:///absolute/dir/NAME",
                capability=CAPABILITY,
                operation="from_url",
            )
        check_queue_name(name, field="url")
        return directory, name, False
    raise Misconfigured(
        f"unsupported queue URL scheme {parts.scheme!r}; accepted: file:///absolute/dir/NAME, memory://NAME "
        "(Queue.from_config for Cloudflare's REST API, Queue.from_env "
        "inside a Worker)",
        capability=CAPABILITY,
        operation="from_url",
    )

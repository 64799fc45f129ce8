"""The server host's configuration: which backend each binding uses, read from the environment.

Two modes, chosen by ``CAPS_BACKEND``:

``local`` (the default) — the embedded backends under ``CAPS_DATA_DIR`` (default ``.caps/server``), as
``caps demo`` uses them. Any binding can be pointed elsewhere with ``CAPS_<BINDING>_URL``:

- ``CAPS_PAYLOADS_URL`` — ``memory://``, ``fs:///abs/dir``, ``s3://bucket?endpoint=…`` (R2's S3 API);
- ``CAPS_INDEX_URL`` — ``memory://``, ``fs:///abs/dir``, ``s3://…``;
- ``CAPS_JOBS_URL`` — ``file:///abs/dir/QUEUE`` or ``memory://QUEUE``;
- ``CAPS_DEDUPE_URL`` — ``memory://``, ``file:///abs/dir``, or ``https://…`` (the Durable Object
  gateway Worker; its token in ``CAPS_GATEWAY_TOKEN``).

``cloudflare`` — the real services, credentials from the environment: ``CLOUDFLARE_ACCOUNT_ID`` and
``CLOUDFLARE_API_TOKEN`` (KV and Queues over the REST API), ``CAPS_KV_NAMESPACE_ID``, ``CAPS_QUEUE_ID``,
``R2_ACCESS_KEY_ID`` and ``R2_SECRET_ACCESS_KEY`` (R2's S3 API; the bucket is the manifest's
``bucket_name`` unless ``CAPS_R2_BUCKET``), ``CAPS_GATEWAY_URL`` and ``CAPS_GATEWAY_TOKEN`` (the gateway
Worker in front of the ``DEDUPE`` Durable Object namespace). Everything missing is named at once.

Also: ``CAPS_MANIFEST`` / ``CAPS_FLOW`` (paths; default: the demo flow's, shipped with
cap-opendal-core), ``CAPS_CONSUMER`` (``on``/``off``: consume jobs in the background; default on) and
``CAPS_LOG_LEVEL`` (default ``info``; ``debug`` shows every capability call).

Secrets are read from the environment straight into the capability configs (pydantic ``SecretStr``,
registered for redaction); :class:`HostConfig` itself holds none, so it is safe to log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping  # noqa: TC003 (a dataclass field type, resolved at run time)
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from cap_demo.flow import DemoBindings, DemoCapabilities
from cap_opendal_core.errors import Misconfigured

if TYPE_CHECKING:
    from cap_cloudflare_queue import QueueConsumer
    from cap_opendal_core.layers import LayerSettings
    from cap_opendal_core.manifest import BindingManifest, BindingSpec

__all__ = ["BINDINGS", "HostConfig", "OpenedCapabilities", "open_capabilities"]

BINDINGS: Final = DemoBindings()
_URL_VARS: Final = {
    BINDINGS.payloads: "CAPS_PAYLOADS_URL",
    BINDINGS.index: "CAPS_INDEX_URL",
    BINDINGS.jobs: "CAPS_JOBS_URL",
    BINDINGS.dedupe: "CAPS_DEDUPE_URL",
}
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class HostConfig:
    """Everything the host is configured with, except secrets (see the module docstring)."""

    backend: Literal["local", "cloudflare"] = "local"
    data_dir: Path = Path(".caps") / "server"
    urls: Mapping[str, str] = field(default_factory=dict)
    manifest_path: Path | None = None
    flow_path: Path | None = None
    consumer: bool = True
    log_level: str = "info"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> HostConfig:
        """Read the ``CAPS_*`` variables; :class:`Misconfigured` names the first bad one."""
        env = os.environ if environ is None else environ
        backend = env.get("CAPS_BACKEND", "local").strip().lower()
        if backend not in ("local", "cloudflare"):
            raise Misconfigured(f"CAPS_BACKEND must be 'local' or 'cloudflare', got {backend!r}")
        consumer = env.get("CAPS_CONSUMER", "on").strip().lower()
        if consumer not in ("on", "off"):
            raise Misconfigured(f"CAPS_CONSUMER must be 'on' or 'off', got {consumer!r}")
        level = env.get("CAPS_LOG_LEVEL", "info").strip().lower()
        if level not in _LOG_LEVELS:
            raise Misconfigured(f"CAPS_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {level!r}")
        urls = {name: env[var] for name, var in _URL_VARS.items() if env.get(var)}
        if urls and backend == "cloudflare":
            raise Misconfigured(
                f"{', '.join(_URL_VARS[n] for n in urls)}: per-binding URLs are for CAPS_BACKEND=local"
            )
        return cls(
            backend="cloudflare" if backend == "cloudflare" else "local",
            data_dir=Path(env.get("CAPS_DATA_DIR") or cls.data_dir),
            urls=urls,
            manifest_path=_path(env, "CAPS_MANIFEST"),
            flow_path=_path(env, "CAPS_FLOW"),
            consumer=consumer == "on",
            log_level=level,
        )

    def manifest(self) -> BindingManifest:
        """The binding manifest (``CAPS_MANIFEST``, or the demo flow's)."""
        from cap_demo.observe import demo_manifest
        from cap_opendal_core.manifest import load_manifest

        return demo_manifest() if self.manifest_path is None else load_manifest(self.manifest_path)

    def flow(self) -> dict[str, Any]:
        """The Flow IR document (``CAPS_FLOW``, or the demo flow)."""
        import json

        from cap_demo.observe import demo_flow

        if self.flow_path is None:
            return demo_flow()
        try:
            data: dict[str, Any] = json.loads(self.flow_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Misconfigured(f"CAPS_FLOW {str(self.flow_path)!r}: cannot read it ({exc})") from None
        return data

    def describe(self) -> dict[str, Any]:
        """What to log at start-up (no secrets here to begin with)."""
        return {
            "backend": self.backend,
            "data_dir": str(self.data_dir),
            "overrides": sorted(self.urls),
            "manifest": str(self.manifest_path or "demo"),
            "flow": str(self.flow_path or "demo"),
            "consumer": self.consumer,
        }


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value) if value else None


@dataclass
class OpenedCapabilities:
    """The flow's capabilities and this host's consumer of the jobs queue."""

    caps: DemoCapabilities
    consumer: QueueConsumer
    batch_size: int


def open_capabilities(
    config: HostConfig,
    manifest: BindingManifest,
    *,
    environ: Mapping[str, str] | None = None,
    settings: LayerSettings | None = None,
) -> OpenedCapabilities:
    """Build the capabilities ``config`` describes (constructors only: no I/O yet)."""
    env = os.environ if environ is None else environ
    spec = _spec(manifest, BINDINGS.jobs)
    queue_name = (spec.queue if spec is not None else None) or "caps-demo-jobs"
    consumer_settings = spec.consumer if spec is not None else None
    batch_size = (consumer_settings.max_batch_size if consumer_settings else None) or 10
    if config.backend == "cloudflare":
        return _cloudflare(env, manifest, queue_name, batch_size, settings)
    return _local(config, env, queue_name, batch_size, consumer_settings, settings)


def _local(
    config: HostConfig,
    env: Mapping[str, str],
    queue_name: str,
    batch_size: int,
    consumer_settings: Any,
    settings: LayerSettings | None,
) -> OpenedCapabilities:
    from cap_cloudflare_do import Dedupe, DedupeLedger, DurableObjectNamespace
    from cap_cloudflare_kv import KvNamespace
    from cap_cloudflare_queue import Queue, QueueConsumer
    from cap_cloudflare_r2 import R2Bucket
    from cap_demo.local import LocalLayout

    layout = LocalLayout(config.data_dir)
    urls = config.urls
    retries = (consumer_settings.max_retries if consumer_settings else None) or 3
    dlq = consumer_settings.dead_letter_queue if consumer_settings else None

    if BINDINGS.payloads in urls:
        payloads = R2Bucket.from_url(urls[BINDINGS.payloads], settings=settings)
    else:
        payloads = R2Bucket.local(_mkdir(layout.payloads), settings=settings)
    if BINDINGS.index in urls:
        index = KvNamespace.from_url(urls[BINDINGS.index], settings=settings)
    else:
        index = KvNamespace.local(layout.index, settings=settings)
    if BINDINGS.jobs in urls:
        url = urls[BINDINGS.jobs]
        jobs = Queue.from_url(url, settings=settings)
        consumer = QueueConsumer.from_url(
            url, max_retries=retries, dead_letter_queue=dlq, settings=settings, max_batch_size=batch_size
        )
    else:
        jobs = Queue.local(_mkdir(layout.queues), queue_name, settings=settings)
        consumer = QueueConsumer.local(
            layout.queues,
            queue_name,
            max_batch_size=batch_size,
            max_retries=retries,
            dead_letter_queue=dlq,
            settings=settings,
        )
    if BINDINGS.dedupe in urls:
        namespace = DurableObjectNamespace.from_url(
            urls[BINDINGS.dedupe],
            object_class=DedupeLedger,
            binding=BINDINGS.dedupe,
            token=env.get("CAPS_GATEWAY_TOKEN"),
            settings=settings,
        )
        dedupe = Dedupe(namespace, settings=settings)
    else:
        dedupe = Dedupe.local(_mkdir(layout.dedupe), settings=settings)
    return OpenedCapabilities(DemoCapabilities(payloads, index, jobs, dedupe), consumer, batch_size)


def _cloudflare(
    env: Mapping[str, str],
    manifest: BindingManifest,
    queue_name: str,
    batch_size: int,
    settings: LayerSettings | None,
) -> OpenedCapabilities:
    from cap_cloudflare_do import Dedupe, DurableObjectNamespace
    from cap_cloudflare_kv import CloudflareKvConfig, KvNamespace
    from cap_cloudflare_queue import CloudflareQueueConfig, Queue, QueueConsumer
    from cap_cloudflare_r2 import R2Bucket, R2Config

    needed = (
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
        "CAPS_KV_NAMESPACE_ID",
        "CAPS_QUEUE_ID",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
        "CAPS_GATEWAY_URL",
        "CAPS_GATEWAY_TOKEN",
    )
    missing = [name for name in needed if not env.get(name)]
    if missing:
        raise Misconfigured(
            f"CAPS_BACKEND=cloudflare needs these environment variables: {', '.join(missing)}"
        )
    spec = _spec(manifest, BINDINGS.payloads)
    bucket = env.get("CAPS_R2_BUCKET") or (spec.bucket_name if spec is not None else None)
    if not bucket:
        raise Misconfigured("no R2 bucket: set CAPS_R2_BUCKET or bucket_name in the manifest")
    account, token = env["CLOUDFLARE_ACCOUNT_ID"], env["CLOUDFLARE_API_TOKEN"]
    payloads = R2Bucket.from_config(
        R2Config(
            account_id=account,
            bucket=bucket,
            access_key_id=env["R2_ACCESS_KEY_ID"],
            secret_access_key=env["R2_SECRET_ACCESS_KEY"],
        ),
        settings=settings,
    )
    index = KvNamespace.from_config(
        CloudflareKvConfig(account_id=account, namespace_id=env["CAPS_KV_NAMESPACE_ID"], api_token=token),
        settings=settings,
    )
    queue_config = CloudflareQueueConfig(
        account_id=account, queue_id=env["CAPS_QUEUE_ID"], api_token=token, queue_name=queue_name
    )
    jobs = Queue.from_config(queue_config, settings=settings)
    consumer = QueueConsumer.from_config(queue_config, settings=settings, max_batch_size=batch_size)
    namespace = DurableObjectNamespace.from_gateway(
        env["CAPS_GATEWAY_URL"],
        binding=BINDINGS.dedupe,
        token=env["CAPS_GATEWAY_TOKEN"],
        read_only=(),
        settings=settings,
    )
    dedupe = Dedupe(namespace, settings=settings)
    return OpenedCapabilities(DemoCapabilities(payloads, index, jobs, dedupe), consumer, batch_size)


def _spec(manifest: BindingManifest, name: str) -> BindingSpec | None:
    """The manifest's binding ``name``, or None when the manifest does not list it."""
    try:
        return manifest[name]
    except KeyError:
        return None


def _mkdir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Misconfigured(f"CAPS_DATA_DIR: cannot create {str(path)!r}: {exc.strerror or exc}") from None
    return path

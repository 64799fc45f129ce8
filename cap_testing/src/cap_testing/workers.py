"""``workers_env``: the user's Python Worker under Pyodide, against Miniflare's real bindings.

One Node process per pytest session (per xdist worker) runs ``harness/host.mjs``: Miniflare with the
bindings the project's ``wrangler.toml`` declares, and Pyodide with the installed cap-* packages and
the Worker's own code. Tests talk to it through a :class:`WorkersEnv` (``run``, ``fetch``, ``drain``);
after each test the host empties every KV namespace, R2 bucket and Durable Object and waits for the
queues to settle, so tests share the warm process without seeing each other's data. A Durable
Object's ``storage.sql`` is synchronous there as on a deployed Worker (``harness/sync_sql.mjs``: a worker
thread asks the object while Node's main thread waits; inside an open ``transaction()`` the
transaction's closure runs it, so it commits and rolls back with the block), except
``transaction_sync``, which raises ``Unsupported`` instead of deadlocking.

The Node side installs on first use into a per-user cache, ``npm ci`` from the ``package-lock.json``
shipped in ``harness/`` (its integrity hashes are checked) and ``pip download --require-hashes`` of the
Pyodide wheels in ``harness/pyodide-wheels.lock``; a file lock keeps concurrent sessions from racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "HARNESS",
    "Delivery",
    "WorkerError",
    "WorkerResponse",
    "WorkersEnv",
    "WorkersHost",
    "WorkersUnavailable",
    "cache_root",
    "ensure_node_side",
    "host_config",
]

HARNESS = Path(__file__).resolve().parent / "harness"
COMPATIBILITY_DATE = "2026-04-01"
"""What Miniflare runs the generated script with: the newest date its pinned workerd accepts, minus margin."""
START_TIMEOUT_S = 900.0
"""A hang guard, not a speed goal: starting Miniflare and Pyodide takes ~6 s, but over 90 s was seen
at a load average of 24 on two cores."""
CALL_TIMEOUT_S = 300.0
INSTALL_TIMEOUT_S = 900.0


class WorkersUnavailable(Exception):
    """The Node side cannot be used here (no Node, no npm, an install that failed); the reason says why."""


class WorkerError(Exception):
    """The Worker's code raised: ``type`` is the exception's qualified class name inside Pyodide,
    ``message`` its text, ``traceback`` the Python traceback as Pyodide printed it."""

    def __init__(self, type: str, message: str, traceback: str = "") -> None:
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message
        self.traceback = traceback

    def __str__(self) -> str:
        text = f"{self.type}: {self.message}"
        return f"{text}\n\nTraceback inside the Worker:\n{self.traceback}" if self.traceback else text


@dataclass(frozen=True)
class WorkerResponse:
    """What the Worker's ``fetch`` answered."""

    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Delivery:
    """One delivery of a queue message to the Worker's queue handler, and what became of it."""

    queue: str
    id: str
    attempts: int
    body: Any
    outcome: str
    """``"ack"`` or ``"retry"`` (a retry of the last allowed attempt goes to the dead-letter queue,
    or is dropped)."""
    error: dict[str, Any] | None = field(default=None)
    """When the handler raised: ``{"type", "message", "traceback"}``."""


# --- installing the Node side on first use ----------------------------------------------------------


def cache_root() -> Path:
    """``$CAP_TESTING_CACHE``, else ``$XDG_CACHE_HOME/cap-testing``, else ``~/.cache/cap-testing``."""
    explicit = os.environ.get("CAP_TESTING_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cap-testing"


def _digest(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive file lock: concurrent sessions (pytest-xdist workers) install once, in turn."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_install(command: list[str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WorkersUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise WorkersUnavailable(f"{what} failed (exit {done.returncode}):\n{tail}")


def _pip() -> list[str]:
    """This interpreter's pip, else one on PATH (the wheels are pure Python: any pip can fetch them)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    if found is None:
        raise WorkersUnavailable(
            "workers_env downloads its Pyodide wheels with pip, which neither this environment nor PATH has "
            "(install pip into the environment)"
        )
    return [found]


def ensure_node_side() -> tuple[Path, list[Path]]:
    """The installed Node modules folder's parent and the Pyodide wheels, installing them if needed."""
    node = shutil.which("node")
    if node is None:
        raise WorkersUnavailable("workers_env needs Node 20+ and npm; node was not found on PATH")
    root = cache_root()
    lock_files = (HARNESS / "package.json", HARNESS / "package-lock.json")
    node_dir = root / "node" / _digest(*lock_files)
    if not (node_dir / ".complete").is_file():
        with _locked(root / "node" / f"{node_dir.name}.lock"):
            if not (node_dir / ".complete").is_file():
                npm = shutil.which("npm")
                if npm is None:
                    raise WorkersUnavailable(
                        "workers_env needs npm to install Miniflare and Pyodide; npm not found"
                    )
                shutil.rmtree(node_dir, ignore_errors=True)
                node_dir.mkdir(parents=True)
                for f in lock_files:
                    shutil.copyfile(f, node_dir / f.name)
                shutil.copyfile(HARNESS / "npmrc", node_dir / ".npmrc")
                _run_install(
                    [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
                    node_dir,
                    "npm ci of cap-testing's Workers host",
                )
                (node_dir / ".complete").write_text("ok\n")
    wheels_lock = HARNESS / "pyodide-wheels.lock"
    wheels_dir = root / "wheels" / _digest(wheels_lock)
    if not (wheels_dir / ".complete").is_file():
        with _locked(root / "wheels" / f"{wheels_dir.name}.lock"):
            if not (wheels_dir / ".complete").is_file():
                pip = _pip()
                shutil.rmtree(wheels_dir, ignore_errors=True)
                wheels_dir.mkdir(parents=True)
                _run_install(
                    [
                        *pip,
                        "download",
                        "--quiet",
                        "--no-deps",
                        "--only-binary=:all:",
                        "--require-hashes",
                        "-r",
                        str(wheels_lock),
                        "-d",
                        str(wheels_dir),
                    ],
                    wheels_dir,
                    "pip download of cap-testing's Pyodide wheels",
                )
                (wheels_dir / ".complete").write_text("ok\n")
    return node_dir, sorted(wheels_dir.glob("*.whl"))


# --- the host's configuration, from wrangler.toml ---------------------------------------------------


def _installed_cap_packages() -> list[dict[str, str]]:
    """Mounts for every installed cap-* distribution (but this plugin): its package folder and its
    ``.dist-info`` (so entry points, hence capability plugins, are found inside Pyodide)."""
    mounts: list[dict[str, str]] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not name.startswith("cap-") or name in ("cap-testing", "cap-workspace") or name in seen:
            continue
        seen.add(name)
        module = name.replace("-", "_")
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            continue
        mounts.append({"host": next(iter(spec.submodule_search_locations)), "target": module})
        info = getattr(dist, "_path", None)
        if isinstance(info, Path) and info.is_dir():
            mounts.append({"host": str(info), "target": info.name})
    return mounts


def _names(entries: Any, key: str, section: str) -> list[str]:
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get(key), str) for e in entries
    ):
        raise ValueError(f"wrangler.toml: every [[{section}]] entry needs a string {key!r}")
    return [e[key] for e in entries]


def host_config(wrangler: Path, *, entrypoint: str | None = None) -> dict[str, Any]:
    """The host's configuration: bindings from ``wrangler`` (its ``main`` module is the Worker)."""
    try:
        document = tomllib.loads(wrangler.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(
            f"workers_env reads the Worker's bindings from {wrangler}, which cannot be read: {exc}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{wrangler} is not valid TOML: {exc}") from None
    main = document.get("main")
    if not isinstance(main, str) or not main.endswith(".py"):
        raise ValueError(
            f'{wrangler}: main must name the Worker\'s Python module (e.g. main = "src/entry.py")'
        )
    main_path = (wrangler.parent / main).resolve()
    if not main_path.is_file():
        raise ValueError(f"{wrangler}: main = {main!r}, but {main_path} does not exist")
    queues = document.get("queues") or {}
    producers = queues.get("producers") or []
    consumers = queues.get("consumers") or []
    _names(producers, "binding", "queues.producers")
    _names(consumers, "queue", "queues.consumers")
    objects = (document.get("durable_objects") or {}).get("bindings") or []
    _names(objects, "class_name", "durable_objects.bindings")
    for o in objects:
        if o.get("script_name"):
            raise ValueError(
                f"{wrangler}: Durable Object {o.get('name')!r} lives in another Worker (script_name); "
                "workers_env runs one Worker"
            )
    variables = document.get("vars") or {}
    return {
        "compatibilityDate": COMPATIBILITY_DATE,
        "kv": _names(document.get("kv_namespaces"), "binding", "kv_namespaces"),
        "r2": _names(document.get("r2_buckets"), "binding", "r2_buckets"),
        "producers": [{"binding": p["binding"], "queue": p["queue"]} for p in producers],
        "consumers": [
            {
                k: c[k]
                for k in ("queue", "max_batch_size", "max_retries", "dead_letter_queue", "retry_delay")
                if k in c
            }
            for c in consumers
        ],
        "vars": {k: v if isinstance(v, str) else json.dumps(v) for k, v in variables.items()},
        "mounts": [
            *_installed_cap_packages(),
            {"host": str(main_path.parent), "target": "/cap_testing/worker"},
        ],
        "python": {
            "paths": ["/cap_testing/worker"],
            "main": main_path.stem,
            "entrypoint": entrypoint,
            "objects": [{"name": o["name"], "class_name": o["class_name"]} for o in objects],
        },
        "resetTimeoutS": 120,
    }


# --- the running host --------------------------------------------------------------------------------


class WorkersHost:
    """The Node process (one per session): started by :meth:`start`, stopped by :meth:`close`."""

    def __init__(self, wrangler: Path, *, entrypoint: str | None = None) -> None:
        self.wrangler = wrangler
        self.entrypoint = entrypoint
        self.startup_ms: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: IO[str] | None = None
        self._next_id = 0
        self._dir: str | None = None

    def start(self) -> None:
        config = host_config(self.wrangler, entrypoint=self.entrypoint)
        node_dir, wheels = ensure_node_side()
        config["nodeDir"] = str(node_dir)
        config["wheels"] = [str(w) for w in wheels]
        self._dir = tempfile.mkdtemp(prefix="cap-testing-host-")
        config_path = Path(self._dir) / "config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        self._stderr = open(Path(self._dir) / "stderr.log", "w+", encoding="utf-8")  # noqa: SIM115
        node = shutil.which("node") or "node"
        self._proc = subprocess.Popen(
            [node, str(HARNESS / "host.mjs"), str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, daemon=True).start()
        first = self._line(START_TIMEOUT_S, "start")
        if first.get("fatal") or not first.get("ready"):
            tail = self.stderr_tail()
            self.close()
            raise RuntimeError(f"the Workers host could not start:\n{first.get('fatal')}\n{tail}")
        self.startup_ms = first.get("ms")

    def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("{"):
                self._lines.put(line)
        self._lines.put(None)

    def _line(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(
                f"the Workers host did not answer {what} in {timeout:.0f} s\n{self.stderr_tail()}"
            ) from None
        if line is None:
            raise RuntimeError(f"the Workers host exited during {what}\n{self.stderr_tail()}")
        doc: dict[str, Any] = json.loads(line)
        return doc

    def stderr_tail(self, lines: int = 30) -> str:
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return "\n".join(self._stderr.read().rstrip().splitlines()[-lines:])

    def request(self, op: str, wait: float = CALL_TIMEOUT_S, **fields: Any) -> Any:
        if self._proc is None or self._proc.stdin is None or self._proc.poll() is not None:
            raise RuntimeError(f"the Workers host is not running\n{self.stderr_tail()}")
        self._next_id += 1
        self._proc.stdin.write(json.dumps({"id": self._next_id, "op": op, **fields}) + "\n")
        self._proc.stdin.flush()
        doc = self._line(wait, op)
        if doc.get("id") != self._next_id:
            raise RuntimeError(f"the Workers host answered out of turn: {doc!r}")
        if not doc.get("ok"):
            raise RuntimeError(f"the Workers host failed {op}: {doc.get('error')}\n{self.stderr_tail()}")
        return doc.get("result")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _target(target: str | Callable[..., Any]) -> str:
    if isinstance(target, str):
        if ":" not in target:
            raise ValueError(f"workers_env.run: target must be 'module:function', got {target!r}")
        return target
    module, name = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
    if not module or not name or "<" in name:
        raise ValueError(f"workers_env.run: {target!r} is not a module-level function of the Worker's code")
    return f"{module}:{name}"


def _raise_or_result(doc: dict[str, Any]) -> Any:
    error = doc.get("error")
    if error:
        raise WorkerError(error["type"], error["message"], error.get("traceback", ""))
    return doc.get("result")


class WorkersEnv:
    """One test's handle on the Worker (the ``workers_env`` fixture)."""

    def __init__(self, host: WorkersHost) -> None:
        self._host = host

    def run(self, target: str | Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        """``await target(env, *args)`` inside Pyodide; its JSON result, or :class:`WorkerError`.

        ``target`` is ``"module:function"`` (a module of the Worker's folder or an installed cap-*
        package; an empty module means the Worker's main module) or such a function itself. Arguments
        and the result cross as JSON."""
        return _raise_or_result(self._host.request("run", timeout, target=_target(target), args=list(args)))

    def fetch(
        self,
        path: str = "/",
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: str | bytes | None = None,
        json_body: Any = None,
        entrypoint: str | None = None,
        timeout: float = CALL_TIMEOUT_S,
    ) -> WorkerResponse:
        """Call the Worker's ``fetch`` handler (``Default`` unless ``entrypoint`` names another class)."""
        if json_body is not None:
            if body is not None:
                raise ValueError("workers_env.fetch: give body or json_body, not both")
            body = json.dumps(json_body)
            headers = {"content-type": "application/json", **(headers or {})}
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        url = path if "://" in path else f"http://worker.test/{path.lstrip('/')}"
        doc = self._host.request(
            "fetch",
            timeout,
            url=url,
            method=method,
            headers=list((headers or {}).items()),
            body=body,
            entrypoint=entrypoint,
        )
        result = _raise_or_result(doc)
        return WorkerResponse(result["status"], dict(result["headers"]), result["body"])

    def drain(self, timeout: float = 120.0) -> list[Delivery]:
        """Wait until every message sent to a queue this Worker consumes is settled (acked, or out of
        retries); every delivery to the queue handler since the last drain, in order."""
        deliveries = self._host.request("drain", timeout + 10, timeout=timeout)
        return [Delivery(**d) for d in deliveries]

    def reset(self) -> None:
        """Empty every KV namespace, R2 bucket and Durable Object and settle the queues (the fixture
        does this after each test)."""
        result = self._host.request("reset", CALL_TIMEOUT_S)
        if result and result.get("stuck"):
            raise RuntimeError(f"workers_env reset: {result['stuck']}")

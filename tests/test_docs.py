"""Every fenced code block in the documentation runs as written — or says, visibly, why it cannot.

Documents: ``README.md``, each package's ``README.md``, the examples' ``README.md`` and ``docs/*.md``.
The rules (also in ``docs/testing-your-flows.md``), by the fence's language:

==========================  ========================================================================
``python``                  run with this interpreter in a fresh working directory (a copy of
                            ``docs/``, ``examples/`` and the demo flow's files), 120 s at most, and
                            must exit 0
``sh``, ``bash``,           run as one ``bash -euo pipefail`` script in such a directory (``console``:
``console``                 only the ``$ `` lines; the rest is sample output). Every command must
                            start with ``caps`` or ``python``; the script must exit 0, or N after
                            ``<!-- expect-exit: N -->``
                            ``<!-- compare-output -->``: a ``console`` block's sample output must be
                            exactly what its commands print
``toml``, ``json``          parsed (a sample that does not parse fails)
``text``                    prose, diagrams and sample output: nothing to run
==========================  ========================================================================

A block that needs what this machine does not have — a Cloudflare account, a Python Worker, the
network, a long-running server — is preceded by ``<!-- not-run: <why> -->``. It is then reported as
skipped with that reason (pytest's ``-ra`` summary lists each one), and a ``python`` block is still
compiled. A fence with no language or another language fails, and so does an unmarked command that is
neither ``caps`` nor ``python``: nothing is skipped silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.workspace import MEMBERS

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120

RUN_LANGUAGES = frozenset({"python", "sh", "bash", "console"})
DATA_LANGUAGES = frozenset({"toml", "json", "text"})
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^<!--\s*(?P<kind>not-run|expect-exit|compare-output)(?::\s*(?P<value>.*?))?\s*-->$")


def documents() -> list[Path]:
    found = [REPO / "README.md", *(REPO / p / "README.md" for p in MEMBERS)]
    found += sorted((REPO / "docs").glob("*.md"))
    found += sorted((REPO / "examples").glob("*/README.md"))
    return [p for p in found if p.is_file()]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    code: str
    not_run: str | None = None
    expect_exit: int = 0
    compare_output: bool = False

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def extract(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, with the markers on the lines just above each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, language = match["fence"], match["info"].strip().split(" ")[0].lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence) and lines[i].strip() == fence[0] * len(lines[i].strip())
        ):
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise AssertionError(f"{path.relative_to(REPO)}:{start + 1}: unclosed code fence")
        i += 1
        markers: dict[str, str] = {}
        j = start - 1
        while j >= 0 and (m := _MARKER.match(lines[j].strip())):
            markers[m["kind"]] = m["value"] or ""
            j -= 1
        expect = markers.get("expect-exit", "0")
        blocks.append(
            Block(
                path,
                start + 1,
                language,
                "\n".join(body) + "\n",
                markers.get("not-run"),
                int(expect) if expect.isdigit() else -1,
                "compare-output" in markers,
            )
        )
    return blocks


ALL_BLOCKS = [block for path in documents() for block in extract(path)]


def _commands(block: Block) -> list[str]:
    """The commands of a shell block (``console``: the ``$ `` lines), continuations joined."""
    raw = block.code.splitlines()
    if block.language == "console":  # "$ " lines, and the lines continuing them after a backslash
        kept: list[str] = []
        for line in raw:
            if line.startswith("$ "):
                kept.append(line[2:])
            elif kept and kept[-1].rstrip().endswith("\\"):
                kept.append(line)
        raw = kept
    commands: list[str] = []
    pending = ""
    for line in raw:
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        pending += stripped[:-1].rstrip() + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            commands.append(pending)
            pending = ""
    return commands


def _workdir(tmp_path: Path) -> Path:
    """A fresh directory holding copies of what the documents refer to by relative path."""
    work = tmp_path / "work"
    work.mkdir()
    ignore = shutil.ignore_patterns(".caps", "__pycache__", "*.pyc", "server.log")
    shutil.copytree(REPO / "docs", work / "docs", ignore=ignore)
    shutil.copytree(REPO / "examples", work / "examples", ignore=ignore)
    demo = "cap_demo/src/cap_demo"
    (work / demo).mkdir(parents=True)
    for name in ("demo_ingest.flow_ir.json", "demo_ingest.bindings.toml"):
        shutil.copy2(REPO / demo / name, work / demo / name)
    return work


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPS_", "CLOUDFLARE_", "R2_", "KV_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    extra = [str(REPO / "examples" / "server_host"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in extra if p)
    return env


# --- the rules, for every block ------------------------------------------------------------------------


def test_documents_exist_and_have_blocks() -> None:
    names = {str(p.relative_to(REPO)) for p in documents()}
    for required in ("README.md", *(f"{p}/README.md" for p in MEMBERS)):
        assert required in names
    assert any(name.startswith("docs/") for name in names)
    assert len(ALL_BLOCKS) >= 40


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.id)
def test_block_follows_the_rules(block: Block) -> None:
    assert block.language in RUN_LANGUAGES | DATA_LANGUAGES, (
        f"{block.id}: fence language {block.language or '(none)'!r}; use one of "
        f"{', '.join(sorted(RUN_LANGUAGES | DATA_LANGUAGES))}"
    )
    if block.not_run is not None:
        assert block.not_run, f"{block.id}: a not-run marker needs a reason"
        assert block.language in RUN_LANGUAGES, f"{block.id}: only runnable blocks take not-run"
    assert block.expect_exit >= 0, f"{block.id}: expect-exit takes a number"
    if block.compare_output:
        assert block.language == "console", f"{block.id}: compare-output is for console blocks"
    if block.language == "toml":
        tomllib.loads(block.code)
    elif block.language == "json":
        json.loads(block.code)
    elif block.language == "python":
        compile(block.code, block.id, "exec")  # not-run blocks too: they must at least be Python
    elif block.language in ("sh", "bash", "console") and block.not_run is None:
        commands = _commands(block)
        assert commands, f"{block.id}: a shell block with no command"
        for command in commands:
            assert command.split(" ")[0] in ("caps", "python"), (
                f"{block.id}: {command!r} is not a caps/python command; "
                "mark the block <!-- not-run: why --> if it cannot run here"
            )


# --- running them -------------------------------------------------------------------------------------

RUNNABLE = [b for b in ALL_BLOCKS if b.language in RUN_LANGUAGES]


def _run(block: Block, work: Path) -> subprocess.CompletedProcess[str]:
    if block.language == "python":
        script = work / "block.py"
        script.write_text(block.code, encoding="utf-8")
        argv = [sys.executable, str(script)]
    else:
        script = work / "block.sh"
        script.write_text("\n".join(_commands(block)) + "\n", encoding="utf-8")
        argv = ["bash", "-euo", "pipefail", str(script)]
    try:
        return subprocess.run(
            argv,
            cwd=work,
            env=_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        return subprocess.CompletedProcess(argv, -9, out, f"timed out after {TIMEOUT_S} s")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every runnable block's run, each in its own fresh directory, a few at a time (they are
    independent subprocesses, mostly waiting on imports)."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [b for b in RUNNABLE if b.not_run is None]
    works = {b.id: _workdir(tmp_path_factory.mktemp("doc")) for b in todo}
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = pool.map(lambda b: (b.id, _run(b, works[b.id])), todo)
        return dict(runs)


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_block_runs_as_written(block: Block, outcomes: dict[str, subprocess.CompletedProcess[str]]) -> None:
    if block.not_run is not None:
        # listed with its reason in pytest's short summary (-ra): visible, never silent
        pytest.skip(f"marked not-run: {block.not_run}")
    proc = outcomes[block.id]
    assert proc.returncode == block.expect_exit, (
        f"{block.id} exited {proc.returncode}, expected {block.expect_exit}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    if block.compare_output:
        lines = block.code.splitlines()
        assert lines[0].startswith("$ "), f"{block.id}: compare-output: the command comes first"
        assert len(_commands(block)) == 1, f"{block.id}: compare-output takes one command"
        shown = [line.rstrip() for line in lines[1:]]
        assert [line.rstrip() for line in proc.stdout.splitlines()] == shown, (
            f"{block.id}: the sample output is not what the command prints:\n{proc.stdout}"
        )


def test_extraction_reads_markers_and_console_commands(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# t\n\n<!-- not-run: needs a Cloudflare account -->\n```sh\nwrangler deploy\n```\n\n"
        "<!-- expect-exit: 1 -->\n```console\n$ caps validate x.json \\\n    --json\nEFFECT201 ...\n```\n"
        "```python\nprint(1)\n```\n",
        encoding="utf-8",
    )
    first, second, third = extract(doc)
    assert (first.language, first.not_run, first.line) == ("sh", "needs a Cloudflare account", 4)
    assert (second.expect_exit, _commands(second)) == (1, ["caps validate x.json --json"])
    assert not second.compare_output
    assert (third.language, third.code, third.not_run) == ("python", "print(1)\n", None)

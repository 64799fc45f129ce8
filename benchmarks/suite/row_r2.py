"""Rows 3 and 4: R2Bucket on S3 against aiobotocore, boto3, bare OpenDAL and obstore; 1 GiB streams.

Both call ``bench_r2``'s own functions (that script stays the one place these measurements are
defined): row 3 — PUTs and GETs of 1 KiB, 64 KiB and 8 MiB against one moto S3 server, the clients
alternating repeat by repeat, client CPU and wall time per phase, each ratio beside the absolute
µs R2Bucket adds per PUT + GET, and for a missed goal the profile of where R2Bucket's CPU goes;
row 4 — a large object streamed up and down by every client, each in a fresh process reporting its
RSS before the transfer and its peak.
"""

from __future__ import annotations

import statistics

from benchmarks import bench_r2 as br

from .table import Line, RowReport, spread, verdict

TITLE_3 = "R2 on S3: PUT + GET of 1 KiB / 64 KiB / 8 MiB vs aiobotocore, bare OpenDAL, obstore"
TITLE_4 = "R2 1 GiB stream up and down: peak RSS of every client"
WALL_GOAL = 1.0
"""'wall no worse': R2Bucket's PUT + GET wall time over a peer's, medians."""
PEER_RSS_SLACK_MIB = 16
"""Issue 18: a 1 GiB stream's peak RSS ≤ obstore's + 16 MiB."""
KiB = 1024
SIZES: dict[bool, tuple[tuple[int, int, int], ...]] = {
    # (size, ops, concurrency): fewer ops at 8 MiB keep the row to a few minutes
    False: ((1 * KiB, 1_000, 32), (64 * KiB, 1_000, 32), (8 * br.MiB, 32, 8)),
    True: ((1 * KiB, 150, 32), (64 * KiB, 150, 32), (8 * br.MiB, 8, 8)),
}
CLOSE_RUN: dict[bool, tuple[int, int, int]] = {False: (64 * KiB, 1_000, 32), True: (64 * KiB, 150, 32)}
"""The same clients on moto's own server, which closes every connection after one request (the
setting of the earlier rows, and of issue 4's goal against aiobotocore)."""
GOAL_SIZES = (64 * KiB, 8 * br.MiB)
"""Issue 18 sets the peer goals at 64 KiB and 8 MiB; 1 KiB is shown for context."""
REPEATS = {False: 3, True: 2}
STEADY_REPEATS = {False: 7, True: 2}
"""Repeats of the 8 MiB keep-alive run and of the ``Connection: close`` run (5 there, see
:func:`_repeats`). Their wall-time verdicts sat within noise of 1.0 with 3 repeats (3p: 0.96..1.21;
3t: 0.93..1.08) while the server's CPU per request was the same for every client (measured for
issue 18): the wall of a short run there is how the shared cores were scheduled, so more repeats
make the median stable. Cheap at 8 MiB (32 PUT + GET, about a second a client)."""
GOAL_REPEATS = {False: 5, True: 2}
"""Repeats of the 64 KiB keep-alive run. Its wall-time verdict (3j) sat on 1.00 with 3 repeats
(4.47 vs 4.45 s, pairs 0.94..1.17) while R2Bucket's client CPU there is below bare OpenDAL's (0.86x
PUT, 0.93x GET, measured alternated for issue 18): the run's wall is moto's, one GIL-bound process
that every client keeps busy, so which side of 1.0 a 3-repeat median lands on is scheduling. Five
repeats cost about 50 s more and make that median hold still."""


def _repeats(quick: bool, size: int, keep_alive: bool) -> int:
    if not keep_alive:
        return min(STEADY_REPEATS[quick], 5)
    if size >= br.MiB:
        return STEADY_REPEATS[quick]
    return GOAL_REPEATS[quick] if size in GOAL_SIZES else REPEATS[quick]


def _label(size: int) -> str:
    return f"{size // br.MiB} MiB" if size >= br.MiB else f"{size // KiB} KiB"


def _wall(r: br.ClientResult) -> list[float]:
    return [p + g for p, g in zip(r.put.wall, r.get.wall, strict=True)]


def _added(ours: float, theirs: float, ops: int) -> str:
    """The absolute client CPU R2Bucket adds per PUT + GET over the other client."""
    us = (ours - theirs) / ops * 1e6
    return f"{us:+,.0f} µs" if abs(us) < 10_000 else f"{us / 1000:+,.1f} ms"


def run_throughput(quick: bool) -> RowReport:
    br.quiet_structlog()
    lines: list[Line] = []
    details: list[str] = []
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    runs = [(True, *run) for run in SIZES[quick]] + [(False, *CLOSE_RUN[quick])]
    floors: list[tuple[str, br.ClientResult, br.ClientResult]] = []
    for keep_alive, size, ops, concurrency in runs:
        label = _label(size)
        server = "keep-alive" if keep_alive else "Connection: close"
        repeats = _repeats(quick, size, keep_alive)
        print(f"  row 3: {label} x {ops} at concurrency {concurrency}, {server}", flush=True)
        results = br.throughput(ops, size, concurrency, repeats, peers=True, keep_alive=keep_alive)
        by_name = {r.name: r for r in results}
        ours = results[0]
        our_cpu = statistics.median(ours.total_cpu())
        our_wall = statistics.median(_wall(ours))
        missed = False
        compared = [("aiobotocore", br.CPU_GOAL if not keep_alive else None)] + [
            (peer, br.PEER_CPU_GOALS[peer] if keep_alive and size in GOAL_SIZES else None)
            for peer in br.PEERS
        ]
        for name, goal in compared:
            other = by_name[name]
            cpu = statistics.median(other.total_cpu())
            wall = statistics.median(_wall(other))
            cpu_ratios = [a / b for a, b in zip(ours.total_cpu(), other.total_cpu(), strict=True)]
            wall_ratios = [a / b for a, b in zip(_wall(ours), _wall(other), strict=True)]
            cpu_result = verdict(our_cpu / cpu, goal) if goal is not None else "—"
            wall_result = verdict(our_wall / wall, WALL_GOAL) if goal is not None else "—"
            missed = missed or "MISS" in (cpu_result, wall_result)
            what = f"{label}, {server}: R2Bucket {ops:,} PUT + GET"
            lines.append(
                Line(
                    f"3{next(letters)}",
                    f"{what}, client CPU vs {name}",
                    f"{our_cpu:.2f} s, ratio {our_cpu / cpu:.2f} ({_added(our_cpu, cpu, ops)} per PUT+GET)",
                    f"{name} {cpu:.2f} s",
                    spread(cpu_ratios),
                    f"CPU ≤ {goal:g}x" if goal is not None else "context",
                    cpu_result,
                )
            )
            lines.append(
                Line(
                    f"3{next(letters)}",
                    f"{what}, wall time vs {name}",
                    f"{our_wall:.2f} s, ratio {our_wall / wall:.2f}",
                    f"{name} {wall:.2f} s",
                    spread(wall_ratios),
                    "wall no worse (ratio ≤ 1)" if goal is not None else "context",
                    wall_result,
                )
            )
        if keep_alive and size in GOAL_SIZES:
            floors.append((f"{label}, keep-alive: {ops:,} PUT + GET", ours, by_name[br.PEERS[0]]))
        per_pair = our_cpu / ops * 1e6
        section = [
            f"#### {label}, {server}: {ops:,} PUT then {ops:,} GET, concurrency {concurrency}, "
            f"{repeats} repeats",
            "",
            br.peer_table(results, ops),
            "",
            br.throughput_table(results, ops),
        ]
        if missed or not keep_alive:
            section += [
                "",
                ("A goal is missed here: w" if missed else "W")
                + f"here R2Bucket's {per_pair:,.0f} µs of client CPU per PUT + GET go (one more run "
                "under cProfile, timed by the thread's CPU clock, a builtin charged to its caller; "
                "the peers spend theirs in Rust threads and the kernel, which the process CPU time "
                "above counts for every client alike):",
                "",
                br.profile_r2bucket(size, ops, concurrency, per_pair, keep_alive=keep_alive),
            ]
        details.append("\n".join(section))
    for what, ours, peer in floors:
        # the wall verdicts' floor: one GIL-bound moto process serves every client, so a wall time
        # below the peer's needs the server to work less for us, which these lines show or not
        served_us, served_peer = ours.total_server_cpu(), peer.total_server_cpu()
        pairs = [a / b for a, b in zip(served_us, served_peer, strict=True)]
        lines.append(
            Line(
                f"3{next(letters)}",
                f"{what}: moto's CPU serving R2Bucket vs serving {peer.name} (the wall's floor)",
                f"{statistics.median(served_us):.2f} s, ratio "
                f"{statistics.median(served_us) / statistics.median(served_peer):.2f}",
                f"{peer.name} {statistics.median(served_peer):.2f} s",
                spread(pairs),
                "context",
                "—",
            )
        )
    detail = (
        "Every client runs against the same moto server (its own process), alternating which goes "
        "first repeat by repeat; boto3 (a thread pool of the same size) runs after them as context. "
        "Client CPU is the benchmark process's CPU time (user + system, every thread: the Rust "
        "clients' runtime threads included), PUT + GET, medians; the µs column is R2Bucket's minus "
        "the other's, per PUT + GET pair. Two servers: **keep-alive** — moto behind gunicorn's "
        "threaded worker, which keeps connections open as R2 does (issue 18's goals are judged "
        "here); **Connection: close** — moto's own werkzeug server, which closes every connection "
        "after one request, so each client connects per request (issue 4's goal against "
        "aiobotocore is judged there, as before). Connecting costs a Python asyncio client far "
        "more CPU than a Rust one: the profile under the close run shows where it goes.\n\n"
        + "\n\n".join(details)
    )
    return RowReport(
        3,
        TITLE_3,
        lines,
        detail,
        settings={
            "sizes (keep-alive)": ", ".join(f"{_label(s)} x {o} at {c}" for s, o, c in SIZES[quick]),
            "Connection: close": "{} x {} at {}".format(_label(CLOSE_RUN[quick][0]), *CLOSE_RUN[quick][1:]),
            "repeats": f"{REPEATS[quick]}; 64 KiB {_repeats(quick, 64 * KiB, True)}; "
            f"8 MiB {_repeats(quick, br.MiB, True)}; "
            f"Connection: close {_repeats(quick, KiB, False)}",
        },
    )


def run_large(quick: bool) -> RowReport:
    gib = 0.125 if quick else 1.0
    br.quiet_structlog()
    results = br.large(gib)
    by_target = {r["target"]: r for r in results}

    def grown(r: dict[str, object]) -> float:
        return (float(r["peak_kib"]) - float(r["baseline_kib"])) / 1024  # type: ignore[arg-type]

    lines = []
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for r in results:
        mib = r["bytes"] / br.MiB
        ours = r["target"] in ("local", "moto s3")
        result = verdict(grown(r), br.RSS_GOAL_MIB) if ours else "—"
        lines.append(
            Line(
                f"4{next(letters)}",
                f"{gib:g} GiB streamed up + down, {br.LARGE_NAMES[r['target']]}",
                f"peak RSS +{grown(r):.0f} MiB",
                f"RSS before the transfer {r['baseline_kib'] / 1024:.0f} MiB; "
                f"{mib / r['up_s']:.0f} MiB/s up, {mib / r['down_s']:.0f} MiB/s down",
                "one run (a process of its own)",
                f"< {br.RSS_GOAL_MIB} MiB above baseline" if ours else "context",
                result if r["intact"] else "MISS",
                note="" if r["intact"] else "body did NOT round-trip intact",
            )
        )
    if "moto s3" in by_target and "obstore" in by_target:
        ours_mib, theirs_mib = grown(by_target["moto s3"]), grown(by_target["obstore"])
        lines.append(
            Line(
                f"4{next(letters)}",
                f"{gib:g} GiB stream, R2Bucket on moto S3 vs obstore: peak RSS growth",
                f"+{ours_mib:.0f} MiB ({ours_mib - theirs_mib:+.0f} MiB vs obstore)",
                f"obstore +{theirs_mib:.0f} MiB",
                "one run each",
                f"≤ obstore's + {PEER_RSS_SLACK_MIB} MiB",
                verdict(ours_mib, theirs_mib + PEER_RSS_SLACK_MIB),
            )
        )
    detail = (
        "Each client runs in a fresh process: RSS is read just before the transfer (after a warm-up "
        "put/get) and the peak is VmHWM at the end, which also covers anything earlier, so the "
        "growth can only be overstated. Uploads use 8 MiB parts, 4 in flight, for every client that "
        "has the setting (R2Bucket's defaults); downloads read 1 MiB at a time where the client "
        "lets the caller choose. The MD5 of what was sent is checked against what came back.\n\n"
        + br.large_table(results)
    )
    return RowReport(4, TITLE_4, lines, detail, settings={"object": f"{gib:g} GiB"})

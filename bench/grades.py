"""Grades benchmark: quiz scores delivered to a loopback LMS gradebook (LTI AGS) the way a user's scores travel.

Run from the project root:

    .venv/bin/python -m bench.grades [--throughput] [--outage] [--sigkill] [--json results.json]
    .venv/bin/python -m bench.grades --database-url postgresql+psycopg://postgres@127.0.0.1:54330/bench_grades

Every scenario starts from nothing: a temporary data folder, `marketplace db upgrade` and `marketplace index`
(the bundled catalog), a fresh database (SQLite in the folder, or a new schema in the PostgreSQL database given),
our tool served by `marketplace serve` in its own process, and the strict loopback platform of the test suite
(OIDC launches, token endpoint, AGS) in this process. Learners are launched through the platform's OIDC flow
(one launch each, as a new browser) and submit the bundled quiz "Our Solar System Quiz" through
POST /lti/quiz/submit; their scores are delivered by `marketplace grades sync` (a subprocess) or by the
server's own worker. Figures are printed, never asserted:

1. throughput: 1,000 attempts, then one `marketplace grades sync`: scores/s from the gradebook's first to last
   accepted score, token requests per platform and scope set, line items created, problems the peer recorded;
2. outage: the gradebook answers 503 for 60 s while 1,000 attempts are made with the server's worker running;
   then the time from recovery until all are delivered, exactly-once and per-learner order, and the AGS calls
   made during the outage;
3. sigkill: `marketplace grades sync` on 1,000 pending jobs, SIGKILLed after about half were accepted, then run
   again (leases ended by the benchmark, as if their 120 s had passed, unless --wait-lease): jobs lost, scores
   accepted twice, and how the jobs in flight at the kill were settled.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.grades_env import FULL_SCOPES, WRITE_SCOPES, World, scenario_database

# Four links of one course: two grant every AGS scope, two only lineitem + score (no results), so tokens are
# needed for two scope sets of the one platform.
LINK_SCOPES = {"link-1": FULL_SCOPES, "link-2": FULL_SCOPES, "link-3": WRITE_SCOPES, "link-4": WRITE_SCOPES}
SCOPE_NAMES = {" ".join(sorted(FULL_SCOPES)): "all four AGS scopes", " ".join(sorted(WRITE_SCOPES)): "lineitem + score"}
CONFIRMED = "Confirmed in the gradebook"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- checks on what the gradebook accepted ----------------------------------------------------------------------
def delivery_check(world: World, jobs: list[dict[str, Any]],
                   accepted: list[tuple[float, str, str, float]] | None = None) -> dict[str, Any]:
    """Exactly once and in order: every job's (userId, timestamp) accepted once, each learner's in rising order."""
    accepted = list(world.gradebook.accepted) if accepted is None else accepted
    expected = {(job["user"], job["timestamp"]): job for job in jobs}
    counts = Counter((user, stamp) for _, user, stamp, _ in accepted)
    by_user: dict[str, list[str]] = defaultdict(list)
    wrong_score = 0
    for _, user, stamp, given in accepted:
        by_user[user].append(stamp)
        job = expected.get((user, stamp))
        if job is not None and abs(job["score"] - given) > 1e-9:
            wrong_score += 1
    pairs = [(earlier, later) for stamps in by_user.values() for earlier, later in zip(stamps, stamps[1:],
                                                                                         strict=False)]
    lost = [job for key, job in expected.items() if key not in counts]
    # A lost job whose learner's gradebook nonetheless shows its value: an equal score sent earlier.
    same_value = sum(1 for job in lost if any(given == job["score"] and stamp < job["timestamp"]
                                              for _, user, stamp, given in accepted if user == job["user"]))
    return {
        "jobs": len(jobs),
        "accepted_calls": len(accepted),
        "distinct_accepted": len(counts),
        "missing": len(lost),
        "missing_with_equal_value_in_gradebook": same_value,
        "duplicates": sum(count - 1 for count in counts.values() if count > 1),
        "unexpected": sum(1 for key in counts if key not in expected),
        # In each learner's arrival order: a timestamp older than the one before, or the same one again.
        "out_of_order": sum(1 for earlier, later in pairs if later < earlier),
        "repeated_timestamp": sum(1 for earlier, later in pairs if later == earlier),
        "learners": len(by_user),
        "learners_out_of_order": sum(1 for stamps in by_user.values()
                                     if any(not b > a for a, b in zip(stamps, stamps[1:], strict=False))),
        "wrong_score": wrong_score,
        "job_states": dict(Counter(job["state"] for job in jobs)),
    }


def token_figures(world: World, window_seconds: float) -> list[dict[str, Any]]:
    """Token requests per platform and scope set, against the allowance of one per token lifetime."""
    groups: dict[str, list[int]] = defaultdict(list)
    for _, scope, lifetime in world.gradebook.token_answers:
        groups[" ".join(sorted(scope.split()))].append(lifetime)
    asked = Counter(" ".join(sorted(form.get("scope", "").split())) for form in world.gradebook.token_requests)
    rows = []
    for scope in sorted(set(groups) | set(asked)):
        lifetime = min(groups.get(scope) or [3600])
        allowed = max(1, math.ceil(window_seconds / lifetime))
        rows.append({"platform": world.peer_url, "scope_set": SCOPE_NAMES.get(scope, scope),
                     "requests": asked.get(scope, 0), "granted": len(groups.get(scope, [])),
                     "lifetime_s": lifetime, "allowed": allowed})
    return rows


def problems(world: World) -> list[str]:
    return list(world.gradebook.problems) + list(world.peer.auth_failures)


# -- scenario 1 ----------------------------------------------------------------------------------------------
def throughput(world: World, learners: int, attempts: int, threads: int) -> dict[str, Any]:
    say(f"throughput: {learners} learners x {attempts} attempts through POST /lti/quiz/submit (worker off)")
    made = world.make_attempts(learners, attempts, threads=threads)
    say(f"  {made.attempts} attempts in {made.seconds:.1f} s; running `marketplace grades sync`")
    began, children, own = time.monotonic(), _children_cpu(), time.process_time()
    done = world.cli("grades", "sync", log="grades-sync.log")
    wall = time.monotonic() - began
    sync_cpu, peer_cpu = _children_cpu() - children, time.process_time() - own
    accepted = list(world.gradebook.accepted)
    first, last = (accepted[0][0], accepted[-1][0]) if accepted else (began, began)
    rate = (len(accepted) - 1) / (last - first) if len(accepted) > 1 and last > first else 0.0
    jobs = world.jobs()
    tokens = token_figures(world, max(wall, 1.0))
    return {
        "learners": learners, "attempts_each": attempts, "attempts": made.attempts,
        "attempt_failures": made.failures[:10], "attempt_failure_count": len(made.failures),
        "attempts_seconds": made.seconds, "attempts_per_second": made.per_second,
        "launch_seconds_mean": made.launch_seconds,
        "sync_wall_seconds": wall, "sync_cpu_seconds": sync_cpu, "peer_process_cpu_seconds": peer_cpu,
        "sync_output": done.stdout.strip().splitlines()[-1:],
        "first_to_last_accepted_seconds": last - first, "scores_per_second": rate,
        "delivery_to_submission_rate": rate / made.per_second if made.per_second else 0.0,
        "tokens": tokens, "line_items_created": len(world.gradebook.line_items),
        "line_item_creations_posted": len(world.gradebook.creations), "links": len(LINK_SCOPES),
        "problems": problems(world), "delivery": delivery_check(world, jobs),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- scenario 2 ----------------------------------------------------------------------------------------------
def outage(world: World, learners: int, attempts: int, threads: int, outage_seconds: float,
           patience: float) -> dict[str, Any]:
    gradebook = world.gradebook
    start = time.monotonic()
    gradebook.outage_until = start + outage_seconds
    say(f"outage: AGS answers 503 for {outage_seconds:.0f} s; {learners} x {attempts} attempts with the server's "
        "worker running")
    made = world.make_attempts(learners, attempts, threads=threads)
    made_at = time.monotonic()
    expected = len(world.jobs())
    say(f"  {made.attempts} attempts in {made.seconds:.1f} s ({expected} jobs); waiting for recovery at "
        f"+{outage_seconds:.0f} s")
    while time.monotonic() < gradebook.outage_until:
        time.sleep(0.05)
    recovery = gradebook.outage_until
    deadline = recovery + patience
    delivered_at = None
    while time.monotonic() < deadline:
        distinct = len({(user, stamp) for _, user, stamp, _ in list(gradebook.accepted)})
        if distinct >= expected:
            delivered_at = time.monotonic()
            break
        time.sleep(0.05)
    if delivered_at is None:
        say(f"  not all delivered {patience:.0f} s after recovery")
    # The worker keeps running: give a duplicate the chance to show up before counting.
    time.sleep(2.0)
    accepted = list(gradebook.accepted)
    during = Counter(kind for kind, moment in list(gradebook.call_times) if start <= moment < recovery)
    after_recovery = [moment for moment, *_ in accepted if moment >= recovery]
    jobs = world.jobs()
    return {
        "learners": learners, "attempts_each": attempts, "attempts": made.attempts,
        "attempt_failure_count": len(made.failures), "attempt_failures": made.failures[:10],
        "outage_seconds": outage_seconds, "attempts_seconds": made.seconds,
        "attempts_all_within_outage": made_at <= recovery,
        "ags_calls_during_outage": sum(count for kind, count in during.items() if kind != "token"),
        "calls_during_outage_by_kind": dict(during),
        "accepted_during_outage": sum(1 for moment, *_ in accepted if moment < recovery),
        "recovery_to_all_delivered_seconds": (delivered_at - recovery) if delivered_at else None,
        "recovery_to_first_accepted_seconds": (min(after_recovery) - recovery) if after_recovery else None,
        "tokens": token_figures(world, max(time.monotonic() - start, 1.0)),
        "line_items_created": len(gradebook.line_items),
        "problems": problems(world), "delivery": delivery_check(world, jobs, accepted),
    }


# -- scenario 3 ----------------------------------------------------------------------------------------------
def sigkill(world: World, learners: int, attempts: int, threads: int, wait_lease: bool) -> dict[str, Any]:
    gradebook = world.gradebook
    say(f"sigkill: {learners} x {attempts} attempts (worker off), then `marketplace grades sync`, SIGKILLed at half")
    made = world.make_attempts(learners, attempts, threads=threads)
    expected = len(world.jobs())
    half = expected // 2
    process, log = world.start_cli("grades", "sync", log="grades-sync-killed.log")
    began = time.monotonic()
    while gradebook.accepted_count() < half and process.poll() is None and time.monotonic() - began < 600:
        time.sleep(0.002)
    at_kill = gradebook.accepted_count()
    process.send_signal(signal.SIGKILL)
    process.wait()
    log.close()
    killed_after = time.monotonic() - began
    time.sleep(0.5)  # requests the peer was already handling finish; nothing new can come
    before = list(gradebook.accepted)
    before_keys = Counter((user, stamp) for _, user, stamp, _ in before)
    jobs_at_kill = world.jobs()
    in_doubt = [job for job in jobs_at_kill if job["state"] == "pending" and job["claimed_at"] is not None]
    states_at_kill = dict(Counter(job["state"] for job in jobs_at_kill))
    say(f"  killed after {killed_after:.1f} s with {at_kill} accepted ({len(before)} once settled); "
        f"{len(in_doubt)} jobs in doubt")
    if wait_lease:
        leases_ended = 0
        lease_note = "leases left to run out (the second sync waits for them, up to 120 s)"
    else:
        leases_ended = world.end_leases()
        lease_note = (f"the benchmark set lease_until into the past on {leases_ended} jobs, simulating the "
                      "120 s lease (outbox.LEASE) running out")
        say("  " + lease_note)
    restart = time.monotonic()
    done = world.cli("grades", "sync", log="grades-sync-restart.log")
    restart_wall = time.monotonic() - restart
    reads = sum(1 for kind, moment in list(gradebook.call_times) if kind == "results" and moment >= restart)
    after = list(gradebook.accepted)[len(before):]
    after_keys = Counter((user, stamp) for _, user, stamp, _ in after)
    jobs = {job["id"]: job for job in world.jobs()}
    settled: Counter[str] = Counter()
    by_scope: dict[str, Counter[str]] = defaultdict(Counter)
    scope_of_user = {user: SCOPE_NAMES[" ".join(sorted(world.link_scopes[link]))]
                     for user, link in world.learner_links.items()}
    for job in in_doubt:
        final = jobs[job["id"]]
        key = (job["user"], job["timestamp"])
        arrived = before_keys[key] > 0
        resent = after_keys[key] > 0
        confirmed = (final["message"] or "").startswith(CONFIRMED)
        if final["state"] != "sent":
            outcome = f"ended {final['state']}"
        elif arrived and confirmed and not resent:
            outcome = "arrived, confirmed by reading"
        elif arrived and resent:
            outcome = "arrived, re-sent (duplicate)"
        elif not arrived and resent:
            outcome = "not arrived, sent on restart"
        elif not arrived and confirmed:
            outcome = "not arrived, taken as confirmed (equal earlier score)"
        else:
            outcome = "other"
        settled[outcome] += 1
        by_scope[scope_of_user.get(job["user"], "?")][outcome] += 1
    check = delivery_check(world, list(jobs.values()))
    return {
        "learners": learners, "attempts_each": attempts, "attempts": made.attempts,
        "attempt_failure_count": len(made.failures), "attempt_failures": made.failures[:10],
        "jobs": expected, "killed_after_seconds": killed_after, "accepted_at_kill": at_kill,
        "accepted_before_restart": len(before), "states_at_kill": states_at_kill, "in_flight_at_kill": len(in_doubt),
        "lease": lease_note, "leases_ended_by_bench": leases_ended, "restart_sync_wall_seconds": restart_wall,
        "restart_output": done.stdout.strip().splitlines()[-1:], "results_reads_after_restart": reads,
        "lost": check["missing"], "duplicates": check["duplicates"],
        "in_doubt_settled": dict(settled), "in_doubt_by_scope_set": {k: dict(v) for k, v in by_scope.items()},
        "tokens": token_figures(world, max(time.monotonic() - began, 1.0)),
        "problems": problems(world), "delivery": check,
    }


# -- report --------------------------------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


def _tokens(rows: list[dict[str, Any]]) -> str:
    return "; ".join(f"{row['scope_set']}: {row['requests']} (lifetime {row['lifetime_s']} s, allowed "
                     f"{row['allowed']})" for row in rows) or "none"


def _order(d: dict[str, Any]) -> str:
    if not (d["out_of_order"] or d["repeated_timestamp"]):
        return f"yes, for all {d['learners']} learners"
    return (f"{d['out_of_order']} older after newer, {d['repeated_timestamp']} repeated timestamps "
            f"({d['learners_out_of_order']} learners)")


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")


def summary_rows(figures: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []

    def add(scenario: str, name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        rows.append([scenario, name, value, target, _met(ok)])

    if "throughput" in figures:
        f = figures["throughput"]
        d = f["delivery"]
        add("throughput", "attempts made (HTTP)", f"{f['learners']} learners x {f['attempts_each']} = "
            f"{f['attempts']} in {f['attempts_seconds']:.1f} s ({f['attempts_per_second']:.1f}/s)")
        add("throughput", "`grades sync` wall time (CPU: sync / peer)", f"{f['sync_wall_seconds']:.1f} s "
            f"({f['sync_cpu_seconds']:.1f} s / {f['peer_process_cpu_seconds']:.1f} s)")
        add("throughput", "scores/s, first to last accepted", f"{f['scores_per_second']:.1f} "
            f"({d['distinct_accepted']} in {f['first_to_last_accepted_seconds']:.1f} s)")
        add("throughput", "delivery rate / submission rate", f"{f['delivery_to_submission_rate']:.2f}")
        for row in f["tokens"]:
            add("throughput", f"token requests, {row['scope_set']}", str(row["requests"]),
                f"<= {row['allowed']} per {row['lifetime_s']} s", row["requests"] <= row["allowed"])
        add("throughput", "line items created", f"{f['line_items_created']} ({f['line_item_creations_posted']} "
            "POSTs)", f"{f['links']} (one per link)", f["line_items_created"] == f["links"])
        add("throughput", "problems recorded by the peer", str(len(f["problems"])), "0", not f["problems"])
        add("throughput", "missing / duplicates", f"{d['missing']} / {d['duplicates']}", "0 / 0",
            not (d["missing"] or d["duplicates"]))
        add("throughput", "in attempt order per learner", _order(d), "strictly increasing",
            not (d["out_of_order"] or d["repeated_timestamp"]))
    if "outage" in figures:
        f = figures["outage"]
        d = f["delivery"]
        within = "yes" if f["attempts_all_within_outage"] else "no"
        add("outage", "attempts made during the outage", f"{f['attempts']} in {f['attempts_seconds']:.1f} s "
            f"(all within the {f['outage_seconds']:.0f} s outage: {within})")
        add("outage", "AGS calls during the outage", f"{f['ags_calls_during_outage']} ("
            + ", ".join(f"{kind} {count}" for kind, count in sorted(f["calls_during_outage_by_kind"].items())) + ")")
        add("outage", "recovery to first accepted", _seconds(f["recovery_to_first_accepted_seconds"]))
        value = f["recovery_to_all_delivered_seconds"]
        add("outage", "recovery to all delivered", _seconds(value), "<= 30 s", value is not None and value <= 30)
        add("outage", "delivered exactly once", f"{d['distinct_accepted']} of {d['jobs']}; {d['duplicates']} "
            f"duplicates, {d['missing']} missing", "all, 0 duplicates", not (d["duplicates"] or d["missing"]))
        add("outage", "in attempt order per learner", _order(d), "strictly increasing",
            not (d["out_of_order"] or d["repeated_timestamp"]))
        add("outage", "token requests", _tokens(f["tokens"]))
        add("outage", "problems recorded by the peer", str(len(f["problems"])), "0", not f["problems"])
    if "sigkill" in figures:
        f = figures["sigkill"]
        d = f["delivery"]
        add("sigkill", "killed", f"after {f['killed_after_seconds']:.1f} s, {f['accepted_before_restart']} of "
            f"{f['jobs']} accepted; {f['in_flight_at_kill']} jobs claimed with no outcome recorded (in doubt)")
        add("sigkill", "lease", f["lease"])
        add("sigkill", "restarted `grades sync` wall time", f"{f['restart_sync_wall_seconds']:.1f} s "
            f"({f['results_reads_after_restart']} results reads)")
        lost = f"{f['lost']}"
        if f["lost"]:
            lost += (f" ({d['missing_with_equal_value_in_gradebook']} of them: the gradebook holds an equal score "
                     "of an earlier attempt)")
        add("sigkill", "lost (job never accepted)", lost, "0", f["lost"] == 0)
        add("sigkill", "duplicates (accepted twice)", str(f["duplicates"]), "0", f["duplicates"] == 0)
        for scope, outcomes in sorted(f["in_doubt_by_scope_set"].items()):
            add("sigkill", f"in doubt, {scope}", "; ".join(f"{count} {name}" for name, count in
                                                             sorted(outcomes.items())))
        add("sigkill", "in attempt order per learner", _order(d), "strictly increasing",
            not (d["out_of_order"] or d["repeated_timestamp"]))
        add("sigkill", "token requests (both runs)", _tokens(f["tokens"]))
        add("sigkill", "problems recorded by the peer", str(len(f["problems"])), "0", not f["problems"])
    return rows


# -- main ----------------------------------------------------------------------------------------------------
def run_scenario(name: str, args: argparse.Namespace, workdir: Path, grade_worker: bool,
                 body: Callable[[World], dict[str, Any]]) -> dict[str, Any]:
    folder = workdir / name
    folder.mkdir(parents=True)
    with ExitStack() as stack:
        url = stack.enter_context(scenario_database(args.database_url, folder / "var", name, args.keep))
        world = World(folder, url, grade_worker=grade_worker, link_scopes=LINK_SCOPES)
        stack.enter_context(world.running())
        started = time.monotonic()
        figures = body(world)
        figures["scenario_seconds"] = time.monotonic() - started
        return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Without a scenario flag, all three run.")
    parser.add_argument("--throughput", action="store_true", help="scenario 1: throughput and tokens")
    parser.add_argument("--outage", action="store_true", help="scenario 2: a gradebook outage, then recovery")
    parser.add_argument("--sigkill", action="store_true", help="scenario 3: `grades sync` killed halfway")
    parser.add_argument("--learners", type=int, default=250, help="learners per scenario (default 250)")
    parser.add_argument("--attempts", type=int, default=4, help="attempts per learner (default 4: 1,000 in all)")
    parser.add_argument("--threads", type=int, default=4, help="learners launching and submitting at once")
    parser.add_argument("--outage-seconds", type=float, default=60.0, help="length of the AGS outage (60)")
    parser.add_argument("--patience", type=float, default=180.0,
                        help="how long after recovery to wait for every score before giving up (180)")
    parser.add_argument("--wait-lease", action="store_true",
                        help="sigkill: let the leases run out for real instead of ending them (adds ~120 s)")
    parser.add_argument("--database-url", help="a PostgreSQL database to use (a new schema per scenario) "
                                               "instead of SQLite")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, SQLite files, schemas)")
    args = parser.parse_args(argv)
    chosen = [name for name in ("throughput", "outage", "sigkill") if getattr(args, name)] or \
        ["throughput", "outage", "sigkill"]
    workdir = Path(tempfile.mkdtemp(prefix="grades-bench-"))
    figures: dict[str, Any] = {}
    started = time.monotonic()
    bodies: dict[str, tuple[bool, Callable[[World], dict[str, Any]]]] = {
        "throughput": (False, lambda world: throughput(world, args.learners, args.attempts, args.threads)),
        "outage": (True, lambda world: outage(world, args.learners, args.attempts, args.threads,
                                              args.outage_seconds, args.patience)),
        "sigkill": (False, lambda world: sigkill(world, args.learners, args.attempts, args.threads,
                                                 args.wait_lease)),
    }
    errors: dict[str, str] = {}
    try:
        for name in chosen:
            grade_worker, body = bodies[name]
            try:
                figures[name] = run_scenario(name, args, workdir, grade_worker, body)
            except Exception as error:  # noqa: BLE001 - reported; the other scenarios still run
                errors[name] = f"{type(error).__name__}: {error}"
                say(f"{name} failed: {errors[name]} (logs in {workdir / name}, kept with --keep)")
    finally:
        if args.keep:
            say(f"work folder kept: {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    database = "PostgreSQL (a schema per scenario)" if args.database_url else "SQLite"
    print(f"\nGrades benchmark, {dt.date.today().isoformat()}: {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, {database}; {time.monotonic() - started:.0f} s in all.")
    print("Learners launched through the loopback platform's OIDC flow (one launch each), attempts posted to "
          "/lti/quiz/submit;\nscores delivered by `marketplace grades sync` (throughput, sigkill) or the server's "
          "worker (outage).\n")
    print(table(["scenario", "figure", "value", "target", "met?"], summary_rows(figures)))
    for name, message in errors.items():
        print(f"\n{name}: did not complete: {message}")
    for name, values in figures.items():
        if values.get("problems"):
            print(f"\n{name}: problems recorded by the peer (first 10):")
            for problem in values["problems"][:10]:
                print("  " + problem)
        if values.get("attempt_failure_count"):
            print(f"\n{name}: {values['attempt_failure_count']} learners failed:")
            for failure in values["attempt_failures"]:
                print("  " + failure)
    if args.json:
        args.json.write_text(json.dumps({"date": dt.date.today().isoformat(), "cpus": os.cpu_count(),
                                         "database": database, "figures": figures, "errors": errors},
                                        indent=2, default=str),
                             encoding="utf-8")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())

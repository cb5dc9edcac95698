"""The chaos of a fault test: seeded-random SIGKILLs of workers, a FLUSHALL and a restart of Redis,
and short CRM fault periods through the sandboxes' control APIs."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import redis

from tests.faults.processes import Managed, RedisServer, Supervisor

# (sandbox, fault kind, options): what a fault period injects. Dropped connections on both sides.
FAULT_MENU = [
    ("hubspot", "rate_limit", {"endpoint": "/crm/*", "share": 0.5}),
    ("hubspot", "error_503", {"endpoint": "/crm/*", "share": 0.35}),
    ("hubspot", "slow", {"endpoint": "/crm/*", "share": 0.5, "delay_seconds": 2.0}),
    ("hubspot", "drop_connection", {"endpoint": "/crm/*", "share": 0.25}),
    ("salesforce", "drop_connection", {"endpoint": "/services/data/*", "share": 0.25}),
    ("salesforce", "expired_session", {"endpoint": "/services/data/*", "share": 0.5}),
]


class Chaos:
    """At seeded-random moments within ``seconds``: ``kills`` SIGKILLs of a worker (one running
    a job that is not in ``periodic`` when there is one, the last one late) each followed by a replacement, one FLUSHALL and one
    Redis restart (both in the first half), and
    ``fault_periods`` short non-overlapping CRM fault periods (each kind of FAULT_MENU in turn;
    the Salesforce expired-session period also expires every issued session).

    ``kill_when``: one more SIGKILL of a busy worker as soon as that predicate holds once Redis
    is back from its restart (e.g. "the run has made progress and is not done": a worker killed
    mid-work, with no later Redis event to clean up after it; asked for up to twice the window).
    ``background``: faults (FAULT_MENU-shaped) on for the whole window, e.g. slow answers that
    keep the work going while the chaos lasts. Every fault is cleared at the end, whatever
    happens. ``log`` lists what was done, with times."""

    def __init__(self, *, supervisor: Supervisor, redis_server: RedisServer, salesforce_control, hubspot_control,
                 seed: int, seconds: float = 20.0, kills: int = 3, flushall: bool = True, restart: bool = True,
                 fault_periods: int = len(FAULT_MENU), fault_seconds: tuple[float, float] = (1.0, 3.0),
                 kill_when: Callable[[], bool] | None = None, background: list[tuple[str, str, dict]] = (),
                 periodic: set[str] = frozenset()) -> None:
        self.supervisor = supervisor
        self.redis_server = redis_server
        self.controls = {"salesforce": salesforce_control, "hubspot": hubspot_control}
        self.seed = seed
        self.seconds = seconds
        rng = random.Random(seed)
        # Redis goes in the first half, and the last kill comes after it: recovering from a killed
        # worker must not wait for Redis to be emptied (which happens to drop its locks).
        events = [(rng.uniform(0.05, 0.95) * seconds, "kill") for _ in range(kills - 1)]
        if kills:
            events.append((rng.uniform(0.65, 0.95) * seconds, "kill"))
        if flushall:
            events.append((rng.uniform(0.1, 0.35) * seconds, "flushall"))
        if restart:
            events.append((rng.uniform(0.35, 0.6) * seconds, "redis_restart"))
        self.events = sorted(events)
        menu = FAULT_MENU[:]
        rng.shuffle(menu)
        slot = seconds / max(1, fault_periods)
        self.fault_plan = []
        for k in range(fault_periods):
            length = min(rng.uniform(*fault_seconds), slot * 0.9)
            start = k * slot + rng.uniform(0, slot - length)
            self.fault_plan.append((start, length, menu[k % len(menu)]))
        self.kill_when = kill_when
        self.periodic = periodic  # the cron's own jobs: a worker running one is not the first choice
        self.background = list(background)
        self._rng = rng
        self._stop = threading.Event()
        self._redis_done = threading.Event()  # set once the last Redis event is over
        self._started = 0.0
        self._threads = [threading.Thread(target=self._guard(self._run_events), name="chaos-events", daemon=True),
                         threading.Thread(target=self._guard(self._run_faults), name="chaos-faults", daemon=True)]
        if kill_when is not None:
            self._threads.append(threading.Thread(target=self._guard(self._run_kill_when), name="chaos-kill-when", daemon=True))
        self.log: list[str] = []
        self.errors: list[str] = []

    def start(self) -> Chaos:
        self._started = time.monotonic()
        for side in self.controls:
            self._faults_reset(side)
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        self.faults_clear()
        if self.errors:
            raise RuntimeError("the chaos loop failed: " + "; ".join(self.errors))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(timeout=30)
        self.faults_clear()

    def faults_clear(self) -> None:
        for control in self.controls.values():
            control.clear_faults()

    def _faults_reset(self, side: str, *, first: tuple[str, dict] | None = None) -> None:
        """Only the background faults on this side, after ``first`` (kind, options) when given:
        the sandbox applies the first matching fault, and clears all faults at once."""
        self.controls[side].clear_faults()
        if first is not None:
            self.controls[side].add_fault(kind=first[0], **first[1])
        for background_side, kind, options in self.background:
            if background_side == side:
                self.controls[side].add_fault(kind=kind, **options)

    def _guard(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except Exception as error:  # reported by join(): a broken harness must not pass silently
                self.errors.append(f"{type(error).__name__}: {error}")
        return run

    def _note(self, what: str) -> None:
        self.log.append(f"{time.monotonic() - self._started:6.1f}s {what}")

    def _sleep_until(self, at: float) -> bool:
        return not self._stop.wait(max(0.0, self._started + at - time.monotonic()))

    def _run_events(self) -> None:
        try:
            self._events_run()
        finally:
            self._redis_done.set()  # whatever happened, the kill_when thread must not wait forever

    def _events_run(self) -> None:
        last_redis = max((k for k, (_, what) in enumerate(self.events) if what != "kill"), default=-1)
        if last_redis < 0:
            self._redis_done.set()
        for k, (at, what) in enumerate(self.events):
            if not self._sleep_until(at):
                return
            if what == "kill":
                victim, doing = self._victim()
                self.supervisor.kill(victim)
                self._note(f"SIGKILL {victim.name} ({doing}), replacement started")
            elif what == "flushall":
                try:
                    self.redis_server.flushall()
                    self._note("Redis FLUSHALL")
                except (redis.RedisError, OSError) as error:
                    self._note(f"Redis FLUSHALL failed: {type(error).__name__}")
            else:
                down = self._rng.uniform(0.5, 2.0)
                self.redis_server.restart(down_seconds=down)
                self._note(f"Redis restarted (down {down:.1f}s)")
            if k == last_redis:
                self._redis_done.set()

    def _victim(self) -> tuple[Managed, str]:
        """A worker running a job that is not the cron's own (from its log), else one running
        any job (its log, Redis, or its CPU use), else any worker; and what it was doing."""
        from rq import Worker

        workers = [m for m in self.supervisor.workers() if m.process is not None]
        jobs = {m.name: self.supervisor.current_job(m) for m in workers}
        working = [m for m in workers if jobs[m.name] and jobs[m.name] not in self.periodic]
        if working:
            victim = self._rng.choice(working)
            return victim, jobs[victim.name]
        try:
            busy_pids = {w.pid for w in Worker.all(connection=self.redis_server.client()) if w.get_state() == "busy"}
        except (redis.RedisError, OSError):
            busy_pids = set()
        busy_pids |= _cpu_busy({m.process.pid for m in workers})
        busy = [m for m in workers if jobs[m.name] or m.process.pid in busy_pids]
        if busy:
            victim = self._rng.choice(busy)
            return victim, jobs[victim.name] or "busy"
        return self._rng.choice(workers), "idle"

    def _run_faults(self) -> None:
        for at, length, (side, kind, options) in self.fault_plan:
            if not self._sleep_until(at):
                return
            control = self.controls[side]
            self._faults_reset(side, first=(kind, options))
            if (side, kind) == ("salesforce", "expired_session"):
                control.expire_sessions()  # and every session issued so far stops working
            self._note(f"{side} {kind} on for {length:.1f}s")
            self._stop.wait(length)
            self._faults_reset(side)
            self._note(f"{side} {kind} cleared")
        self._stop.wait(max(0.0, self._started + self.seconds - time.monotonic()))  # the background lasts the window

    def _run_kill_when(self) -> None:
        from django.db import connections

        try:
            while not self._redis_done.wait(0.1):
                if self._stop.is_set():
                    return
            while not self._stop.wait(0.1):
                if time.monotonic() - self._started > 2 * self.seconds:
                    self._note("kill_when never held (in twice the window): no kill mid-work")
                    return
                if self.kill_when():
                    victim, doing = self._victim()
                    self.supervisor.kill(victim)
                    self._note(f"SIGKILL {victim.name} ({doing}) mid-work after Redis came back, replacement started")
                    return
        finally:
            connections.close_all()  # this thread's own database connection, if the predicate opened one


def _cpu_busy(pids: set[int], *, sample_seconds: float = 0.3) -> set[int]:
    """The processes that used CPU over a short sample: Redis forgets which workers are busy when
    it is emptied or restarted, the kernel does not."""
    import psutil

    before = {}
    for pid in pids:
        try:
            before[pid] = sum(psutil.Process(pid).cpu_times()[:2])
        except psutil.Error:
            pass
    time.sleep(sample_seconds)
    busy = set()
    for pid, used in before.items():
        try:
            if sum(psutil.Process(pid).cpu_times()[:2]) - used > 0.02:
                busy.add(pid)
        except psutil.Error:
            pass
    return busy

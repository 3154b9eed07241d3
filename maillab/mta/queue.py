"""The queue manager: when each queued message is tried, how many at once per destination, and what
happens after: done, deferred by the retry policy, or returned to the sender.

Model (Postfix ``src/qmgr``): a new message is tried at once (``policy.first_attempt``); after a temporary
failure ``policy.deferred`` names the retry time, already on the policy's queue-run grid; a job waits for
it with one SimPy timeout. Jobs of one destination are delivered by at most ``limit`` concurrent slots;
each slot reuses its open SMTP sessions for the next job of the destination (connection cache).

Cautious start (a named departure): until a connection to a destination has succeeded, its jobs are tried
one at a time, so that a dead destination is detected by Postfix's failure cohort (qmgr_queue.c) after
3 refused connections, not by 5 parallel ones (REFERENCE §7 case 9).

A crash interrupts every slot. What an attempt in flight had already decided stands (delivered
recipients are done, refused ones returned) and the attempt is recorded as lost; then a durable spool
keeps every job with its remaining recipients (tried again at restart, or at its retry time), a volatile
spool loses them all, and the loss is recorded.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy

from maillab.mta.bounce import RecipientStatus
from maillab.mta.delivery import DeliveryAgent, Job, Outcome, SessionCache
from maillab.mta.records import Lost, QueueSample, Recorder
from maillab.mta.retry import RetryPolicy
from maillab.smtp import Reply

log = logging.getLogger(__name__)

SUSPENDED = Reply(451, "4.4.1", "delivery temporarily suspended: destination is not responding")
CRASHED = Reply(421, "4.3.0", "delivery attempt cut short: this host crashed")

BounceHandler = Callable[[Job, list[RecipientStatus]], None]


class QueueManager:
    """The queue of one MTA."""

    def __init__(
        self,
        env: simpy.Environment,
        hostname: str,
        agent: DeliveryAgent,
        policy: RetryPolicy,
        recorder: Recorder,
        on_return: BounceHandler,
        concurrency_limit: int = 20,
    ) -> None:
        self.env, self.hostname, self.agent, self.policy = env, hostname, agent, policy
        self.recorder, self.on_return, self.concurrency_limit = recorder, on_return, concurrency_limit
        self.running = True
        self._generation = 0
        self._waiting: dict[Job, float] = {}  # deferred jobs and their retry times
        self._ready: dict[str, deque[Job]] = {}
        self._inflight: dict[Job, Outcome] = {}  # jobs being tried, with what their attempt decided so far
        self._busy: dict[str, int] = {}
        self._starting: dict[str, int] = {}  # slots started that have not yet taken a job
        self._proven: dict[str, bool] = {}
        self._slots: set[simpy.Process] = set()
        self._dormant: list[tuple[Job, float]] = []
        self._ready_count = 0
        self._window = getattr(policy, "concurrency_window", None)  # Exim-style policies have none
        self._last_sample: QueueSample | None = None

    # --- what is in the queue ------------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """Every job the queue holds now, in any state (for conservation checks)."""
        ready = [job for jobs in self._ready.values() for job in jobs]
        return [*self._waiting, *ready, *self._inflight, *(job for job, _ in self._dormant)]

    def submit(self, job: Job) -> None:
        self._schedule(job, self.policy.first_attempt(self.env.now))

    # --- scheduling ----------------------------------------------------------------------------------------

    def _schedule(self, job: Job, at: float) -> None:
        if not self.running:
            self._dormant.append((job, at))
            return
        if at <= self.env.now:
            self._due(job)
            return
        self._waiting[job] = at
        generation = self._generation
        timer = self.env.timeout(at - self.env.now)
        timer.callbacks.append(lambda _: self._timer_fired(job, generation))
        self._sample()

    def _timer_fired(self, job: Job, generation: int) -> None:
        if generation == self._generation and self._waiting.pop(job, None) is not None:
            self._due(job)

    def _due(self, job: Job) -> None:
        self._ready.setdefault(job.destination, deque()).append(job)
        self._ready_count += 1
        self._dispatch(job.destination)
        self._sample()

    def _limit(self, destination: str) -> int:
        if not self._proven.get(destination, False):
            return 1  # cautious start (module docstring)
        window = self._window
        allowed = window(destination, now=self.env.now) if window is not None else self.concurrency_limit
        return max(1, min(allowed, self.concurrency_limit))

    def _dispatch(self, destination: str) -> None:
        """Start slots up to the destination's limit, one for each ready job no starting slot will take."""
        ready = self._ready.get(destination)
        while ready and len(ready) > self._starting.get(destination, 0) \
                and self._busy.get(destination, 0) < self._limit(destination):
            self._busy[destination] = self._busy.get(destination, 0) + 1
            self._starting[destination] = self._starting.get(destination, 0) + 1
            slot = self.env.process(self._slot(destination, self._generation))
            self._slots.add(slot)

    # --- delivery slots ------------------------------------------------------------------------------------

    def _slot(self, destination: str, generation: int) -> Generator[simpy.Event, Any, None]:
        """Deliver the destination's ready jobs one after another. A slot of an earlier generation (the
        host crashed since it was started) leaves the queue's bookkeeping alone: crash() reset it."""
        if generation != self._generation:
            return
        self._starting[destination] -= 1
        cache = SessionCache()
        try:
            while self._ready.get(destination):
                suspended = self.policy.suspended_until(now=self.env.now, destination=destination)
                job = self._take(destination)
                if suspended is not None:
                    self._defer_suspended(job)
                    continue
                yield from self._try(job, cache)
        except simpy.Interrupt:
            return
        finally:
            cache.close_all()
            if generation == self._generation:
                self._slot_done(destination)

    def _try(self, job: Job, cache: SessionCache) -> Generator[simpy.Event, Any, None]:
        """One attempt of one job (a crash cuts it short: crash() settles it, the slot is interrupted)."""
        outcome = self._inflight[job] = Outcome()
        yield from self.agent.attempt(job, cache, outcome)
        del self._inflight[job]
        self._proven[job.destination] = outcome.connected
        self._settle(job, outcome)

    def _take(self, destination: str) -> Job:
        self._ready_count -= 1
        return self._ready[destination].popleft()

    def _slot_done(self, destination: str) -> None:
        self._busy[destination] -= 1
        self._slots.discard(self.env.active_process)  # this slot, ending
        if self.running and self._ready.get(destination):
            self._dispatch(destination)
        elif not self._busy[destination] and not self._ready.get(destination):
            self.policy.destination_idle(destination=destination)
        self._sample()

    def _defer_suspended(self, job: Job) -> None:
        """A suspended destination: the job is deferred without a connection (Postfix qmgr_defer)."""
        job.attempts += 1
        self.agent.record(job, None, self.env.now, "suspended", SUSPENDED, len(job.recipients), local=True)
        outcome = Outcome(deferred=[(rcpt, SUSPENDED, None) for rcpt in job.recipients])
        self._settle(job, outcome)

    # --- after an attempt ----------------------------------------------------------------------------------

    def _settle(self, job: Job, outcome: Outcome) -> None:
        now = self.env.now
        returned = [RecipientStatus(rcpt, "failed", reply, remote, now) for rcpt, reply, remote in outcome.bounced]
        if outcome.delivered:
            self.policy.delivered(now=now, destination=job.destination)
        job.recipients = [rcpt for rcpt, _, _ in outcome.deferred]
        if job.recipients:
            returned += self._defer(job, outcome)
        if returned:
            self.on_return(job, returned)
        self._sample()

    def _defer(self, job: Job, outcome: Outcome) -> list[RecipientStatus]:
        """Ask the policy when to try again; past the lifetime, the recipients are returned (still 4.x.x)."""
        now = self.env.now
        decision = self.policy.deferred(
            now=now, arrival=job.arrival, destination=job.destination, null_sender=job.sender == "",
            attempt=job.attempts,
        )
        if decision.retry_at is None:
            log.info("t=%.3f %s: %s, returning to sender", now, job.queue_id, decision.reason)
            statuses = [RecipientStatus(rcpt, "failed", reply, remote, now) for rcpt, reply, remote in outcome.deferred]
            job.recipients = []
            return statuses
        self._maybe_warn(job, outcome)
        self._schedule(job, decision.retry_at)
        return []

    def _maybe_warn(self, job: Job, outcome: Outcome) -> None:
        warning = self.policy.delay_warning
        if warning is None or job.warned or job.sender == "" or self.env.now - job.arrival < warning:
            return
        job.warned = True
        delayed = [RecipientStatus(rcpt, "delayed", reply, remote, self.env.now) for rcpt, reply, remote in
                   outcome.deferred]
        self.on_return(job, delayed)

    # --- crash and restart ---------------------------------------------------------------------------------

    def crash(self, volatile: bool) -> None:
        """The host crashed: stop every slot; keep the jobs (durable spool) or record them lost (volatile)."""
        self.running = False
        self._generation += 1
        for slot in list(self._slots):
            if slot.is_alive:
                slot.interrupt("host crash")
        self._slots.clear()
        now = self.env.now
        for job, outcome in self._inflight.items():
            self._cut_short(job, outcome)
        held = [(job, at) for job, at in self._waiting.items()]
        held += [(job, now) for jobs in self._ready.values() for job in jobs]
        held += [(job, now) for job in self._inflight if job.recipients]
        for container in (self._waiting, self._ready, self._inflight, self._busy, self._starting):
            container.clear()
        self._ready_count = 0
        if volatile:
            for job, _ in held + self._dormant:
                for rcpt in job.recipients:
                    self.recorder.lost.append(Lost(now, job.message_id, rcpt, self.hostname))
            self._dormant = []
        else:
            self._dormant.extend(held)
        self._sample()

    def _cut_short(self, job: Job, outcome: Outcome) -> None:
        """An attempt in flight when this host crashed: what it already decided stands (Postfix marks each
        recipient done in the queue file as it goes); the rest stays with the job. The attempt is recorded
        as lost, with the exchanger and connection it was using and whether a final dot was unanswered."""
        now = self.env.now
        settled = outcome.settled()
        job.recipients = [rcpt for rcpt in job.recipients if rcpt not in settled]
        if outcome.bounced:
            self.on_return(job, [RecipientStatus(rcpt, "failed", reply, remote, now)
                                 for rcpt, reply, remote in outcome.bounced])
        session = outcome.session
        self.agent.record(job, outcome.trying, outcome.started, "lost", CRASHED, len(job.recipients), local=True,
                          connection=session.endpoint.id if session is not None else None,
                          duplicate_risk=session is not None and session.client.in_duplicate_window)

    def restart(self) -> None:
        """Back up: every kept job is tried at its retry time, or now if that has passed."""
        self.running = True
        dormant, self._dormant = self._dormant, []
        for job, at in sorted(dormant, key=lambda item: item[1]):
            self._schedule(job, max(at, self.env.now))

    # --- records -------------------------------------------------------------------------------------------

    def _sample(self) -> None:
        """Record the queue's length when it changed: a step function, a row when it differs from this
        host's last row (which is replaced when the length changes again at the same instant; changing
        and changing back at one instant can leave two equal rows in a row)."""
        active = self._ready_count + len(self._inflight)
        deferred = len(self._waiting) + len(self._dormant)
        last = self._last_sample
        if last is not None and last.active == active and last.deferred == deferred:
            return
        queue, now = self.recorder.queue, self.env.now
        if queue and queue[-1] is last and last.time == now:
            queue.pop()
        self._last_sample = QueueSample(now, self.hostname, active, deferred)
        queue.append(self._last_sample)

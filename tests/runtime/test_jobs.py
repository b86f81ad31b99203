"""Jobs: a run on a worker thread, its outcome kept, Stop heard before, during and after."""
from __future__ import annotations

import threading

from ovnb.errors import Stopped
from ovnb.runtime.jobs import Job, Outcome, Workers


def test_an_exception_is_one_line_with_details_and_never_raised() -> None:
    def broken(job: Job[int]) -> int:
        raise RuntimeError("Check 'x' failed at somewhere.cpp\nthe telling line")

    outcome = Job(broken).start().wait()
    assert not outcome.ok and outcome.error == "RuntimeError: the telling line"
    assert "Traceback" in (outcome.details or "")


def test_stop_reaches_what_registers_before_and_after_it() -> None:
    job: Job[None] = Job(lambda job: None)
    told: list[str] = []
    job.on_stop(lambda: told.append("before"))
    job.stop()
    job.stop()  # a second Stop tells nobody twice
    job.on_stop(lambda: told.append("after"))  # a streamer made after Stop is stopped at once
    assert told == ["before", "after"] and job.stopped


def test_a_listener_that_raises_does_not_keep_stop_from_the_others() -> None:
    job: Job[None] = Job(lambda job: None)
    told: list[str] = []
    job.on_stop(lambda: 1 / 0)
    job.on_stop(lambda: told.append("told"))
    job.stop()
    assert told == ["told"]


def test_a_run_that_stops_with_nothing_to_keep_is_a_note_not_an_error() -> None:
    release = threading.Event()

    def run(job: Job[int]) -> int:
        job.progressed()
        release.wait()
        if job.stopped:
            raise Stopped("stopped after 3 of 9 texts: nothing was kept")
        return 1

    seen: list[Outcome[int]] = []
    job: Job[int] = Job(run, after=seen.append).start()
    job.moving.wait()
    job.stop()
    release.set()
    outcome = job.wait()
    assert outcome.ok and outcome.value is None and outcome.stopped
    assert outcome.note == "stopped after 3 of 9 texts: nothing was kept" and seen == [outcome]


def test_runs_reuse_a_waiting_worker_and_a_nested_run_takes_another() -> None:
    def where(job: Job[threading.Thread]) -> threading.Thread:
        return threading.current_thread()

    first = Job(where).start().wait().value
    assert Job(where).start().wait().value is first  # handed over, no thread started

    def nested(job: Job[threading.Thread | None]) -> threading.Thread | None:
        return Job(where).start().wait().value  # this worker waits: the inner run needs another

    inner = Job(nested).start().wait().value
    assert inner is not None and inner is not threading.current_thread()


def test_a_worker_outlives_what_fails_in_it_and_ends_when_idle() -> None:
    workers = Workers(idle=0.0)
    ran: list[threading.Thread] = []
    done = threading.Event()
    workers.run(lambda: 1 / 0)  # logged, never raised: the worker serves on
    workers.run(lambda: (ran.append(threading.current_thread()), done.set()))
    assert done.wait(60)
    ran[0].join(60)  # nothing more came within its idle time: it ended
    assert not ran[0].is_alive()

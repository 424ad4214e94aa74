"""The backoff state of one destination: the schedule, one probe at a time, Retry-After, a flush request."""

from __future__ import annotations

import random

from ccaudit.shipping.destination import Destination, max_attempts_within, step


def test_each_wait_is_between_half_its_step_and_its_step_and_the_steps_double_up_to_the_cap() -> None:
    destination = Destination(backoff_max=2.0, jitter=random.Random(7))
    for failures in range(1, 12):
        top = min(2.0, 0.1 * 2 ** (failures - 1))
        assert step(failures, 2.0) == top
        waits = [destination.delay(failures) for _ in range(50)]
        assert all(top / 2 <= w <= top for w in waits)


def test_retry_after_lengthens_a_wait_and_never_shortens_it() -> None:
    destination = Destination(backoff_max=30.0)
    assert destination.delay(1, retry_after=5.0) == 5.0
    assert destination.delay(8, retry_after=0.0) >= step(8, 30.0) / 2
    assert destination.delay(1, retry_after=600.0) == 30.0  # capped like the schedule


def test_after_a_failure_nothing_is_sent_before_the_slot_and_then_one_probe_at_a_time() -> None:
    destination = Destination(backoff_max=30.0, base=60.0)  # slots far away: nothing comes due here
    assert destination.acquire()
    assert destination.acquire()  # a healthy service: senders do not wait for each other
    destination.failed()
    destination.failed()
    assert destination.failures == 2
    assert destination.wait_time() > 0
    assert not destination.acquire()
    destination.force()  # a flush request: one send now
    destination.force()  # asked twice, still one
    assert destination.acquire()
    assert not destination.acquire()  # the probe is out; the rest wait for its answer
    destination.succeeded()
    assert (destination.failures, destination.wait_time()) == (0, 0.0)
    assert destination.acquire()


def test_the_bound_on_attempts_follows_the_shortest_waits_of_the_schedule() -> None:
    # Half-steps 0.05, 0.1, 0.2, 0.4, 0.8, 1.6: they add up to 0.05, 0.15, 0.35, 0.75, 1.55, 3.15 s.
    assert [max_attempts_within(t, 30.0) for t in (0.0, 0.05, 0.3, 1.0, 3.0, 3.2)] == [1, 2, 3, 5, 6, 7]
    # At the cap every further wait is at least backoff_max / 2.
    assert max_attempts_within(3600.0, 30.0) < 3600 / 15 + 12

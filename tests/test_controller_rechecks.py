"""The recheck schedule of refused images: 30 s after a refusal, doubling per recheck that finds the service still
refused, capped; reset by a change of the service and by new registry logins; forgotten once admitted."""

from __future__ import annotations

import math

from lattice.controller.rechecks import RecheckSchedule

A, B = ("shop", "a"), ("shop", "b")


def test_a_refusal_is_checked_again_after_the_base_wait_then_at_doubling_intervals_up_to_the_cap() -> None:
    schedule = RecheckSchedule(base=30, cap=100)
    schedule.decided({A}, {A}, now=0)
    assert schedule.take_due(29.9) == set()
    now, waits = 30.0, []
    for _ in range(5):
        assert schedule.take_due(now) == {A}
        assert schedule.take_due(now + 1000) == set()  # under way: not marked twice before the burst decides
        schedule.decided({A}, {A}, now=now)  # the recheck found it still refused
        waits.append(schedule.due[A].interval)
        now = schedule.due[A].at
    assert waits == [60, 100, 100, 100, 100]


def test_a_service_changed_meanwhile_starts_again_at_the_base_wait() -> None:
    schedule = RecheckSchedule(base=30, cap=600)
    schedule.decided({A}, {A}, now=0)
    schedule.take_due(30)
    schedule.decided({A}, {A}, now=30)
    assert schedule.due[A].interval == 60
    schedule.decided({A}, {A}, now=40)  # checked again for another reason (its spec changed): a new refusal
    assert (schedule.due[A].at, schedule.due[A].interval) == (70, 30)


def test_a_burst_that_did_not_check_a_service_leaves_its_clock_alone() -> None:
    schedule = RecheckSchedule(base=30, cap=600)
    schedule.decided({A, B}, {A, B}, now=0)
    schedule.decided({A, B}, {B}, now=20)  # B changed; A was only carried along
    assert schedule.due[A].at == 30 and schedule.due[B].at == 50


def test_new_logins_recheck_every_refused_service_at_once_and_restart_their_backoff() -> None:
    schedule = RecheckSchedule(base=30, cap=600)
    schedule.decided({A, B}, {A, B}, now=0)
    schedule.take_due(30)
    schedule.decided({A, B}, {A, B}, now=30)
    assert schedule.restart() == {A, B}
    assert all(due.at == math.inf for due in schedule.due.values())
    schedule.decided({A}, {A, B}, now=35)  # B is admitted with the new login, A still refused
    assert set(schedule.due) == {A} and (schedule.due[A].at, schedule.due[A].interval) == (65, 30)


def test_a_service_no_longer_refused_is_forgotten() -> None:
    schedule = RecheckSchedule(base=30, cap=600)
    schedule.decided({A}, {A}, now=0)
    assert schedule.take_due(30) == {A}
    schedule.decided(set(), {A}, now=31)
    assert schedule.due == {} and schedule.rechecking == set()
    assert schedule.take_due(10_000) == set()

"""The service clocks computed from a ticket's history on a frozen clock (``tickets.sla``), the
business-hours calendar they run on (``tickets.service_hours``) and the ``sla`` section of the
priority policy (``tickets.policy``). Pure: fixed datetimes, no database, no real "now".

The real policy (data/policy/priority.yml) promises, in hours of 7x24 service time:

    level    response  update  resolution
    urgent   1         2       24
    general  6         -       24
    complex  24        8       72

and warns after 80 % of each target.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
import yaml

from playbook.sourcefile import SourceError, read_yaml_with_lines
from tickets import config
from tickets.policy import PolicyError, load_policy, parse_policy
from tickets.service_hours import ALWAYS, ServiceHours, parse_offset, parse_window
from tickets.sla import BREACH, WARNING, History, evaluate

POLICY = load_policy(config.DEFAULT_POLICY_PATH)
#: The report of every ticket here: Tuesday 2026-11-24 09:30 in China.
T = datetime(2026, 11, 24, 1, 30, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))


def at(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    """The moment that long after the report."""
    return T + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def cst(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A wall-clock time in China in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


def ticket(priority="urgent", statuses=(), replies=(), created=T) -> History:
    return History(
        created_at=created, priority=priority, statuses=list(statuses), replies=list(replies)
    )


def crossings(state, clock=None):
    """The crossings as (clock, kind, cycle, at), of one clock or of all."""
    return [(c.clock, c.kind, c.cycle, c.at) for c in state.crossings if clock in (None, c.clock)]


def update_cycles(state):
    return [c for c in state.clocks if c.name == "update"]


# --- the real policy, 7x24 ------------------------------------------------------------------------


def test_the_real_policy_has_the_guides_targets_on_a_7x24_clock():
    targets = {
        name: (level.response_hours, level.update_hours, level.resolution_hours)
        for name, level in POLICY.levels.items()
    }
    assert targets == {
        "urgent": (1.0, 2.0, 24.0),
        "general": (6.0, None, 24.0),
        "complex": (24.0, 8.0, 72.0),
    }
    assert POLICY.warning_share == 0.8
    assert POLICY.calendar.always and POLICY.calendar == ALWAYS


@pytest.mark.parametrize(
    "priority, response, resolution",
    [("urgent", 1, 24), ("general", 6, 24), ("complex", 24, 72)],
)
def test_a_new_ticket_is_due_its_levels_hours_later_and_warns_at_80_percent(
    priority, response, resolution
):
    state = evaluate(ticket(priority), POLICY, T)
    first, res = state.clock("first_response"), state.clock("resolution")
    assert (first.due_at, first.warn_at) == (at(response), at(response * 0.8))
    assert (res.due_at, res.warn_at) == (at(resolution), at(resolution * 0.8))
    assert (first.state, res.state) == ("running", "running")
    assert state.clock("update") is None  # no reply yet: no cadence
    assert state.crossings == ()
    assert state.check_at == at(response * 0.8)
    assert (state.paused_since, state.paused_seconds) == (None, 0)


def test_the_warning_comes_at_80_percent_and_the_breach_at_the_due_time():
    history = ticket("urgent")
    just_before = evaluate(history, POLICY, at(minutes=47, seconds=59))
    assert crossings(just_before) == []
    assert just_before.check_at == at(minutes=48)

    warned = evaluate(history, POLICY, at(minutes=48))
    assert crossings(warned) == [("first_response", WARNING, 0, at(minutes=48))]
    assert warned.clock("first_response").state == "running"
    assert warned.check_at == at(1)
    assert not warned.breached

    breached = evaluate(history, POLICY, at(1))
    assert crossings(breached) == [
        ("first_response", WARNING, 0, at(minutes=48)),
        ("first_response", BREACH, 0, at(1)),
    ]
    assert breached.clock("first_response").state == "breached"
    assert breached.breached
    assert breached.check_at == at(24 * 0.8)  # next: the resolution's warning


def test_crossings_carry_their_own_moment_however_late_they_are_noticed():
    state = evaluate(ticket("urgent"), POLICY, at(24 * 10))
    assert [(c.clock, c.kind, c.due_at, c.at) for c in state.crossings] == [
        ("first_response", WARNING, at(1), at(minutes=48)),
        ("first_response", BREACH, at(1), at(1)),
        ("resolution", WARNING, at(24), at(hours=19, minutes=12)),
        ("resolution", BREACH, at(24), at(24)),
    ]
    assert state.check_at is None  # everything has passed


def test_check_at_is_always_the_next_pending_warning_or_breach():
    history = ticket("urgent", [(at(minutes=5), "assigned")])
    assert evaluate(history, POLICY, T).check_at == at(minutes=48)
    assert evaluate(history, POLICY, at(minutes=50)).check_at == at(1)
    assert evaluate(history, POLICY, at(1)).check_at == at(hours=19, minutes=12)
    answered = ticket("urgent", [(at(minutes=5), "assigned")], replies=[at(hours=1, minutes=30)])
    # the first response is done; the update cycle's warning (96 min later) comes first
    assert evaluate(answered, POLICY, at(hours=1, minutes=40)).check_at == at(hours=3, minutes=6)


# --- pauses: waiting for the user -----------------------------------------------------------------


def test_a_wait_before_the_first_reply_moves_every_running_clock_by_exactly_the_wait():
    statuses = [
        (at(minutes=5), "assigned"),
        (at(minutes=20), "waiting_user"),
        (at(hours=3, minutes=20), "in_progress"),  # the user wrote: 3 h waited
    ]
    waiting = evaluate(ticket("urgent", statuses[:2]), POLICY, at(1))
    assert waiting.paused and waiting.paused_since == at(minutes=20)
    assert waiting.paused_seconds == 0
    first = waiting.clock("first_response")
    assert (first.state, first.due_at, first.used_seconds) == ("paused", None, 20 * 60)
    assert waiting.clock("resolution").state == "paused"
    assert waiting.check_at is None  # nothing can come due while the clocks stand still
    assert crossings(waiting) == []

    resumed = evaluate(ticket("urgent", statuses), POLICY, at(hours=3, minutes=25))
    assert (resumed.paused_since, resumed.paused_seconds) == (None, 3 * 3600)
    first, res = resumed.clock("first_response"), resumed.clock("resolution")
    assert (first.state, first.used_seconds) == ("running", 25 * 60)
    assert (first.due_at, first.warn_at) == (at(1 + 3), at(hours=3, minutes=48))
    assert (res.due_at, res.warn_at) == (at(24 + 3), at(hours=19 + 3, minutes=12))
    assert resumed.check_at == at(hours=3, minutes=48)

    answered = evaluate(
        ticket("urgent", statuses, replies=[at(hours=3, minutes=30)]), POLICY, at(4)
    )
    first = answered.clock("first_response")
    assert (first.state, first.used_seconds, first.stopped_at) == (
        "met",
        30 * 60,
        at(hours=3, minutes=30),
    )


def test_a_wait_during_an_update_cycle_moves_that_cycle_and_the_resolution_by_the_wait():
    replies = [at(minutes=10)]
    running = [(at(minutes=5), "assigned"), (at(minutes=6), "in_progress")]
    without = evaluate(ticket("urgent", running, replies), POLICY, at(minutes=40))
    paused = running + [
        (at(minutes=30), "waiting_user"),
        (at(hours=2, minutes=30), "in_progress"),  # 2 h waited
    ]
    with_wait = evaluate(ticket("urgent", paused, replies), POLICY, at(hours=2, minutes=40))
    for name in ("update", "resolution"):
        before, after = without.clock(name), with_wait.clock(name)
        assert after.due_at - before.due_at == timedelta(hours=2), name
        assert after.warn_at - before.warn_at == timedelta(hours=2), name
    assert with_wait.clock("update").due_at == at(hours=2 + 2, minutes=10)
    assert with_wait.clock("resolution").due_at == at(24 + 2)
    assert with_wait.paused_seconds == 7200
    # the first response was met before the wait: it does not move
    assert with_wait.clock("first_response").due_at == without.clock("first_response").due_at


def test_a_wait_that_began_after_the_due_time_does_not_undo_the_breach():
    statuses = [(at(minutes=5), "assigned"), (at(2), "waiting_user")]
    waiting = evaluate(ticket("urgent", statuses), POLICY, at(5))
    first = waiting.clock("first_response")
    assert (first.state, first.due_at) == ("breached", at(1))
    assert crossings(waiting, "first_response") == [
        ("first_response", WARNING, 0, at(minutes=48)),
        ("first_response", BREACH, 0, at(1)),
    ]
    assert waiting.breached and waiting.paused

    statuses.append((at(6), "in_progress"))
    later = evaluate(ticket("urgent", statuses, [at(hours=6, minutes=10)]), POLICY, at(7))
    first = later.clock("first_response")
    assert first.state == "missed"
    assert first.used_seconds == 2 * 3600 + 10 * 60  # the 4 h wait is not counted
    assert crossings(later, "first_response") == [
        ("first_response", WARNING, 0, at(minutes=48)),
        ("first_response", BREACH, 0, at(1)),
    ]


def test_clocks_paused_until_the_resolution_are_met_and_record_no_breach():
    """Staff answered, asked the user something and waited; the user never wrote again and
    the ticket was resolved three days later (waiting_user -> resolved is allowed). The
    update and resolution clocks stood still for the whole wait: every clock was met, and
    nothing was crossed."""
    statuses = [
        (at(minutes=5), "assigned"),
        (at(minutes=20), "waiting_user"),
        (at(72), "resolved"),
    ]
    state = evaluate(ticket("urgent", statuses, [at(minutes=10)]), POLICY, at(73))
    assert [(c.name, c.state, c.used_seconds) for c in state.clocks] == [
        ("first_response", "met", 600),
        ("update", "met", 600),
        ("resolution", "met", 1200),
    ]
    assert not state.breached
    assert crossings(state) == []


# --- the update cadence ---------------------------------------------------------------------------


def test_each_reply_starts_an_update_cycle_that_the_next_reply_ends():
    statuses = [(at(minutes=1), "assigned"), (at(minutes=2), "in_progress")]
    replies = [
        at(minutes=10),  # cycle 0: answered again 1 h later, in time
        at(hours=1, minutes=10),  # cycle 1: 3 h until the next reply, 2 h allowed
        at(hours=4, minutes=10),  # cycle 2: still running
    ]
    state = evaluate(ticket("urgent", statuses, replies), POLICY, at(5))
    cycles = update_cycles(state)
    assert [(c.cycle, c.started_at, c.stopped_at, c.state) for c in cycles] == [
        (0, at(minutes=10), at(hours=1, minutes=10), "met"),
        (1, at(hours=1, minutes=10), at(hours=4, minutes=10), "missed"),
        (2, at(hours=4, minutes=10), None, "running"),
    ]
    assert [c.due_at for c in cycles] == [
        at(hours=2, minutes=10),
        at(hours=3, minutes=10),
        at(hours=6, minutes=10),
    ]
    # the missed cycle breaches alone; the cycles before and after have nothing
    assert crossings(state, "update") == [
        ("update", WARNING, 1, at(hours=2, minutes=46)),
        ("update", BREACH, 1, at(hours=3, minutes=10)),
    ]
    assert state.clock("update").cycle == 2
    assert state.clock("first_response").state == "met"
    assert state.check_at == at(hours=5, minutes=46)  # cycle 2 warns after 96 of its 120 min


def test_the_resolution_ends_the_running_update_cycle_and_a_later_note_starts_none():
    statuses = [(at(minutes=1), "assigned"), (at(1), "resolved")]
    state = evaluate(ticket("urgent", statuses, [at(minutes=10), at(2)]), POLICY, at(3))
    assert [(c.cycle, c.stopped_at, c.state) for c in update_cycles(state)] == [
        (0, at(1), "met"),
    ]
    assert state.check_at is None


def test_the_general_level_has_no_update_clock():
    statuses = [(at(minutes=1), "assigned"), (at(minutes=2), "in_progress")]
    state = evaluate(ticket("general", statuses, [at(minutes=10)]), POLICY, at(30))
    assert [c.name for c in state.clocks] == ["first_response", "resolution"]
    assert state.clock("update") is None
    assert crossings(state) == [
        ("resolution", WARNING, 0, at(hours=19, minutes=12)),
        ("resolution", BREACH, 0, at(24)),
    ]


def test_the_complex_level_expects_an_update_every_8_hours():
    state = evaluate(ticket("complex", replies=[at(1)]), POLICY, at(2))
    update = state.clock("update")
    assert (update.target_hours, update.due_at, update.warn_at) == (
        8.0,
        at(9),
        at(hours=7, minutes=24),
    )


# --- the resolution clock -------------------------------------------------------------------------


def test_the_resolution_clock_stops_at_resolved_and_a_reopen_goes_on_from_there():
    statuses = [(at(minutes=1), "assigned"), (at(minutes=2), "in_progress"), (at(10), "resolved")]
    resolved = evaluate(ticket("urgent", statuses, [at(minutes=10)]), POLICY, at(15))
    res = resolved.clock("resolution")
    assert (res.state, res.stopped_at, res.used_seconds) == ("met", at(10), 10 * 3600)
    assert crossings(resolved, "resolution") == []

    statuses.append((at(20), "in_progress"))  # the user says it is still broken
    reopened = evaluate(ticket("urgent", statuses, [at(minutes=10)]), POLICY, at(30))
    res = reopened.clock("resolution")
    # 10 h before the resolution + 10 h since the reopen; the 10 h resolved are not counted
    assert (res.state, res.stopped_at, res.used_seconds) == ("running", None, 20 * 3600)
    assert (res.due_at, res.warn_at) == (at(24 + 10), at(hours=19 + 10, minutes=12))
    assert crossings(reopened, "resolution") == [
        ("resolution", WARNING, 0, at(hours=29, minutes=12))
    ]
    assert reopened.check_at == at(34)

    statuses.append((at(40), "resolved"))
    again = evaluate(ticket("urgent", statuses, [at(minutes=10)]), POLICY, at(41))
    res = again.clock("resolution")
    assert (res.state, res.used_seconds) == ("missed", 30 * 3600)
    assert crossings(again, "resolution") == [
        ("resolution", WARNING, 0, at(hours=29, minutes=12)),
        ("resolution", BREACH, 0, at(34)),
    ]


def test_closing_a_resolved_ticket_does_not_restart_its_clock():
    statuses = [(at(minutes=1), "assigned"), (at(4), "resolved"), (at(6), "closed")]
    state = evaluate(ticket("general", statuses), POLICY, at(100))
    res = state.clock("resolution")
    assert (res.state, res.stopped_at, res.used_seconds) == ("met", at(4), 4 * 3600)
    assert crossings(state) == [] and state.check_at is None


def test_a_resolution_without_a_reply_is_the_first_response():
    statuses = [(at(minutes=5), "assigned"), (at(minutes=10), "in_progress"), (at(2), "resolved")]
    in_time = evaluate(ticket("general", statuses), POLICY, at(3))
    first = in_time.clock("first_response")
    assert (first.state, first.stopped_at, first.used_seconds) == ("met", at(2), 7200)
    assert crossings(in_time) == []

    late = evaluate(ticket("urgent", statuses), POLICY, at(3))
    assert late.clock("first_response").state == "missed"
    assert crossings(late) == [
        ("first_response", WARNING, 0, at(minutes=48)),
        ("first_response", BREACH, 0, at(1)),
    ]


# --- business hours -------------------------------------------------------------------------------

#: Mon-Fri 09:00-18:00 in China; Monday 2026-11-30 is a holiday.
CALENDAR_POLICY_YAML = """\
levels:
  urgent: {rank: 1, response_hours: 1, update_hours: 2, resolution_hours: 24}
  general: {rank: 2, response_hours: 6, update_hours: null, resolution_hours: 24}
default: general
sla:
  warning_share: 0.8
  calendar:
    utc_offset: "+08:00"
    hours:
      mon: 09:00-18:00
      tue: 09:00-18:00
      wed: 09:00-18:00
      thu: 09:00-18:00
      fri: 09:00-18:00
      sat: null
      sun: null
    holidays: [2026-11-30]
"""
OFFICE = parse_policy(yaml.safe_load(CALENDAR_POLICY_YAML), "office.yml")
HOURS = OFFICE.calendar


def test_the_calendar_is_read_from_the_policy():
    nine_to_six = [(time(9), time(18))]
    assert HOURS.windows == {0: nine_to_six, 1: nine_to_six, 2: nine_to_six, 3: nine_to_six,
                             4: nine_to_six, 5: [], 6: []}  # fmt: skip
    assert HOURS.offset == CST
    assert HOURS.holidays == frozenset({date(2026, 11, 30)})
    assert not HOURS.always


@pytest.mark.parametrize(
    "created, priority, due, warn",
    [
        # inside hours: plain arithmetic
        (cst(24, 10), "urgent", cst(24, 11), cst(24, 10, 48)),
        # across a night: 30 min on Thursday, 30 min on Friday morning
        (cst(26, 17, 30), "urgent", cst(27, 9, 30), cst(27, 9, 18)),
        (cst(26, 17, 30), "general", cst(27, 14, 30), cst(27, 13, 18)),
        # across a weekend and the Monday holiday
        (cst(27, 17, 30), "urgent", cst(1, 9, 30, month=12), cst(1, 9, 18, month=12)),
        # reported on a Sunday night: the clock starts on Tuesday morning
        (cst(29, 22), "urgent", cst(1, 10, month=12), cst(1, 9, 48, month=12)),
        # reported before opening
        (cst(25, 7), "urgent", cst(25, 10), cst(25, 9, 48)),
    ],
)
def test_business_hours_due_times(created, priority, due, warn):
    state = evaluate(ticket(priority, created=created), OFFICE, created)
    first = state.clock("first_response")
    assert (first.due_at, first.warn_at) == (due, warn)
    assert state.check_at == warn


def test_a_24_hour_resolution_in_business_hours_spans_a_weekend_and_a_holiday():
    # Thu 0.5 h + Fri 9 h + (weekend, holiday) + Tue 9 h + Wed 5.5 h
    state = evaluate(ticket("urgent", created=cst(26, 17, 30)), OFFICE, cst(26, 17, 30))
    assert state.clock("resolution").due_at == cst(2, 14, 30, month=12)


def test_only_service_hours_are_used_and_a_night_breaches_nothing():
    history = ticket("urgent", created=cst(26, 17, 30))
    overnight = evaluate(history, OFFICE, cst(27, 8, 59))
    assert overnight.clock("first_response").used_seconds == 30 * 60
    assert crossings(overnight) == []
    assert overnight.check_at == cst(27, 9, 18)
    morning = evaluate(history, OFFICE, cst(27, 9, 30))
    assert crossings(morning) == [
        ("first_response", WARNING, 0, cst(27, 9, 18)),
        ("first_response", BREACH, 0, cst(27, 9, 30)),
    ]


def test_a_wait_in_business_hours_moves_the_due_time_by_the_service_time_waited():
    # reported Thu 17:30; waiting for the user from 17:40 to Friday 10:00 (1 h of service time)
    statuses = [(cst(26, 17, 35), "assigned"), (cst(26, 17, 40), "waiting_user"),
                (cst(27, 10), "in_progress")]  # fmt: skip
    state = evaluate(ticket("urgent", statuses, created=cst(26, 17, 30)), OFFICE, cst(27, 10))
    first = state.clock("first_response")
    assert first.used_seconds == 10 * 60
    assert first.due_at == cst(27, 10, 50)  # 10 min on Thursday, 50 min from Friday 10:00
    assert state.paused_seconds == int((cst(27, 10) - cst(26, 17, 40)).total_seconds())


STARTS = [
    cst(24, 10, 17),  # inside hours
    cst(24, 9),  # at opening
    cst(24, 18),  # at closing
    cst(24, 23, 59),  # at night
    cst(28, 12),  # Saturday
    cst(30, 11),  # the holiday
    cst(27, 17, 59),  # Friday, one minute before the weekend
]


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("seconds", [1, 60, 1800, 9 * 3600, 9 * 3600 + 1, 40 * 3600, 100 * 3600])
def test_between_undoes_add(start, seconds):
    end = HOURS.add(start, seconds)
    assert end > start
    assert HOURS.between(start, end) == seconds


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize(
    "end", [cst(1, 11, 5, month=12), cst(1, 9, 1, month=12), cst(4, 17, 59, month=12)]
)
def test_add_undoes_between_for_an_end_inside_service_hours(start, end):
    assert HOURS.add(start, HOURS.between(start, end)) == end


def test_a_target_used_up_at_closing_time_is_due_at_closing_not_next_opening():
    # Friday 17:00 + 1 h is Friday 18:00 (the same service moment as Tuesday 09:00)
    assert HOURS.add(cst(27, 17), 3600) == cst(27, 18)
    assert HOURS.add(cst(27, 17), 3601) == cst(1, 9, 0, month=12) + timedelta(seconds=1)


def test_service_time_between_moments():
    assert HOURS.between(cst(27, 17), cst(1, 10, month=12)) == 2 * 3600  # Fri 1 h + Tue 1 h
    assert HOURS.between(cst(28, 0), cst(30, 23, 59)) == 0  # weekend and holiday
    assert HOURS.between(cst(25, 12), cst(24, 12)) == 0  # backwards
    assert HOURS.add(cst(25, 12), 0) == cst(25, 12)
    assert ALWAYS.between(at(0), at(30)) == 30 * 3600
    assert ALWAYS.add(at(0), 90) == at(seconds=90)


def test_windows_and_offsets_are_parsed():
    assert parse_window("09:00-18:00") == (time(9), time(18))
    assert parse_window("00:00-24:00") == (time(0), time(0))
    assert parse_offset("+08:00") == CST
    assert parse_offset("-05:30") == timezone(-timedelta(hours=5, minutes=30))
    assert parse_offset("UTC") == timezone.utc
    for bad in ("18:00-09:00", "0900", "09:00-25:00"):
        with pytest.raises(ValueError):
            parse_window(bad)
    for bad in ("+15:00", "Beijing"):
        with pytest.raises(ValueError):
            parse_offset(bad)


def test_a_day_open_until_midnight_counts_to_midnight():
    late = ServiceHours(windows={0: [parse_window("20:00-24:00")]}, offset=CST)
    monday_night = datetime(2026, 11, 23, 23, 0, tzinfo=CST)
    assert late.add(monday_night, 3600) == datetime(2026, 11, 24, 0, 0, tzinfo=CST)
    assert late.add(monday_night, 3601) == datetime(2026, 11, 30, 20, 0, 1, tzinfo=CST)


# --- the sla section: mistakes name their line ----------------------------------------------------

BASE = """\
levels:
  urgent:
    rank: 1
    response_hours: 1
    update_hours: 2
    resolution_hours: 24
default: urgent
sla:
  warning_share: 0.8
  calendar:
    utc_offset: "+08:00"
    hours:
      mon: 09:00-18:00
      tue: 09:00-18:00
      sat: null
    holidays: [2026-11-30]
"""


def read_policy(tmp_path, text):
    path = tmp_path / "priority.yml"
    path.write_text(text, encoding="utf-8")
    return parse_policy(read_yaml_with_lines(path, "priority.yml"), "priority.yml")


def test_the_base_of_the_mistakes_is_valid(tmp_path):
    policy = read_policy(tmp_path, BASE)
    assert policy.levels["urgent"].update_hours == 2.0
    assert policy.calendar.windows == {0: [(time(9), time(18))], 1: [(time(9), time(18))], 5: []}
    assert policy.calendar.holidays == frozenset({date(2026, 11, 30)})


def test_update_hours_null_means_no_cadence_and_resolution_defaults_to_24(tmp_path):
    text = BASE.replace("    update_hours: 2\n", "    update_hours: null\n").replace(
        "    resolution_hours: 24\n", ""
    )
    level = read_policy(tmp_path, text).levels["urgent"]
    assert (level.update_hours, level.resolution_hours) == (None, 24.0)


def test_without_an_sla_section_the_clock_is_7x24_warning_at_80_percent(tmp_path):
    policy = read_policy(tmp_path, BASE.split("sla:")[0])
    assert (policy.warning_share, policy.calendar) == (0.8, ALWAYS)
    seven_by_24 = BASE.split("  calendar:")[0] + "  calendar: 7x24\n"
    assert read_policy(tmp_path, seven_by_24).calendar.always


@pytest.mark.parametrize(
    "old, new, line, fragment",
    [
        ("  warning_share: 0.8", "  warning_share: 1.5", 9, "sla.warning_share"),
        ("  warning_share: 0.8", "  warning_share: 0", 9, "0 和 1 之间"),
        ("  warning_share: 0.8", "  warning_share: 80%", 9, "sla.warning_share"),
        ("  warning_share: 0.8", "  warning_share: true", 9, "sla.warning_share"),
        ('    utc_offset: "+08:00"', "    utc_offset: Beijing", 11, "utc_offset"),
        ('    utc_offset: "+08:00"', '    utc_offset: "+15:00"', 11, "utc_offset"),
        ("      tue: 09:00-18:00", "      tue: 18:00-09:00", 14, "sla.calendar.hours.tue"),
        ("      tue: 09:00-18:00", "      tue: nine to six", 14, "sla.calendar.hours.tue"),
        ("      tue: 09:00-18:00", "      funday: 09:00-18:00", 14, "funday 不是星期"),
        ("    holidays: [2026-11-30]", '    holidays: ["next monday"]', 16, "不是日期"),
        ("    update_hours: 2", "    update_hours: 0", 5, "不需要时写 null"),
        ("    update_hours: 2", "    update_hours: soon", 5, "levels.urgent.update_hours"),
        ("    resolution_hours: 24", "    resolution_hours: -3", 6, "resolution_hours"),
        ("    resolution_hours: 24", "    resolution_hours: null", 6, "resolution_hours"),
        ("sla:\n  warning_share: 0.8", "sla: [0.8]\nx:\n  warning_share: 0.8", 8, "sla 必须"),
    ],
)
def test_a_mistake_in_the_sla_settings_names_its_line(tmp_path, old, new, line, fragment):
    assert old in BASE
    with pytest.raises(PolicyError) as info:
        read_policy(tmp_path, BASE.replace(old, new))
    assert info.value.line == line
    assert fragment in info.value.text
    assert info.value.problems == [f"priority.yml:{line}: {info.value.text}"]


def test_a_calendar_that_is_neither_7x24_nor_a_mapping_names_its_line(tmp_path):
    text = BASE.split("  calendar:")[0] + "  calendar: 9x5\n"
    with pytest.raises(PolicyError) as info:
        read_policy(tmp_path, text)
    assert (info.value.line, "sla.calendar" in info.value.text) == (10, True)


def test_a_calendar_without_any_open_day_names_the_calendar_line(tmp_path):
    text = BASE.replace("      mon: 09:00-18:00", "      mon: null").replace(
        "      tue: 09:00-18:00", "      tue: null"
    )
    with pytest.raises(PolicyError) as info:
        read_policy(tmp_path, text)
    assert info.value.line == 10 and "至少要有一天" in info.value.text


def test_a_single_holiday_written_without_a_list_counts_as_that_one_day(tmp_path):
    """``holidays: 2026-11-30`` (one date, no brackets) is an easy slip: it means that one day
    (not a TypeError from the parser)."""
    text = BASE.replace("    holidays: [2026-11-30]", "    holidays: 2026-11-30")
    policy = read_policy(tmp_path, text)
    assert policy.calendar.holidays == frozenset({date(2026, 11, 30)})


def test_a_holiday_that_is_no_date_in_the_calendar_names_its_line(tmp_path):
    """``2026-02-30`` looks like a date to YAML but is none: the policy file must still be
    refused with the line of the mistake (a SourceError), not an unlabelled ValueError."""
    path = tmp_path / "priority.yml"
    path.write_text(BASE.replace("2026-11-30", "2026-02-30"), encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_policy(path)
    assert info.value.problems[0].startswith(f"{path}:16:")

"""The optional Decision 766 fields of FilingEvent: v1 events stay valid and state none of them; sent values are
validated strictly, and a bad one dead-letters its event with a reason that names the field."""

from __future__ import annotations

from typing import Any

import pytest

from dvcpulse.models.decode import decode_message
from dvcpulse.models.index_766 import contribute
from dvcpulse.models.index_766_facts import FLAGS, INDEX_766_FIELDS, STATED, record_facts
from dvcpulse.models.index_766_periods import Period
from tests.models.event_helpers import CONTEXT, VALID, decode, error_on, event

BOOLEAN_FIELDS = [name for name in INDEX_766_FIELDS if name != "satisfaction_rating"]


def test_a_v1_event_is_valid_and_states_no_766_fact() -> None:
    model = decode(VALID)
    assert all(getattr(model, name) is None for name in INDEX_766_FIELDS)
    assert set(INDEX_766_FIELDS) <= set(STATED) and set(FLAGS) - {"paid_online"} <= set(INDEX_766_FIELDS)


@pytest.mark.parametrize("name", BOOLEAN_FIELDS)
@pytest.mark.parametrize("value", [True, False, None])
def test_flags_take_json_booleans_and_null(name: str, value: bool | None) -> None:
    assert getattr(decode(event(**{name: value})), name) is value


@pytest.mark.parametrize("name", BOOLEAN_FIELDS)
@pytest.mark.parametrize("value", [1, 0, "true", "yes", 1.0, [True]])
def test_flags_refuse_anything_else_with_a_reason(name: str, value: Any) -> None:
    assert "valid boolean" in error_on(event(**{name: value}), name).reason


@pytest.mark.parametrize("value", ["satisfied", "neutral", "dissatisfied", None])
def test_satisfaction_rating_values(value: str | None) -> None:
    assert decode(event(satisfaction_rating=value)).satisfaction_rating == value


@pytest.mark.parametrize("value", ["Satisfied", "angry", "", 5, True])
def test_a_bad_rating_is_dead_lettered_with_the_choices(value: Any) -> None:
    reason = error_on(event(satisfaction_rating=value), "satisfaction_rating").reason
    assert "'satisfied', 'neutral' or 'dissatisfied'" in reason


def test_a_bad_766_field_in_an_envelope_spoils_only_its_event() -> None:
    import orjson

    good = event(event_id="E1", fee_required=True)
    bad = event(event_id="E2", reused_data="yes")
    decoded = decode_message(orjson.dumps([good, bad]), CONTEXT)
    assert [e.event_id for e in decoded.events] == ["E1"] and decoded.events[0].fee_required is True
    (rejected,) = decoded.rejected
    assert rejected.index == 1 and rejected.errors[0].field == "reused_data"


def test_decoded_events_feed_the_rules() -> None:
    submitted = decode(event(event_id="E1", reused_data=True, population_data=False))
    synced = decode(event(event_id="E2", event_type="synced", status=10, event_time="2025-08-02T09:00:00+07:00",
                          result_electronic=True, satisfaction_rating="satisfied"))  # fmt: skip
    facts = record_facts([synced, submitted])
    assert facts.stated["reused_data"] is True and facts.stated["result_electronic"] is True
    tallies = contribute(facts, Period.month(2025, 8)).tallies
    assert (tallies["4.3"].numerator, tallies["4.5b"].numerator, tallies["1.4"].numerator) == (1, 0, 1)

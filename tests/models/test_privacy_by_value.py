"""Citizen numbers are withheld from dead letters by value, not only under the key `applicant_id`.

models.privacy.redact_raw (which models.decode.safe_raw applies to every reject's bytes) withholds the value of
any applicant-like key (any case, separators, JSON escapes; also applicant_hash, cccd, cmnd, citizen...) and any
value shaped like a CCCD/CMND number anywhere, and masks runs of 9+ digits inside other strings.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvcpulse.models.decode import decode_message
from dvcpulse.models.privacy import is_citizen_number, is_personal_key, redact_raw, redact_text
from tests.models.event_helpers import (
    CCCD,
    CITIZEN_IDS,
    CMND,
    CONTEXT,
    JSON_VALUES,
    SETTINGS,
    VALID,
    assert_hidden,
    event,
    every_reject_explained,
)

ODD_KEYS = [
    *("Applicant_ID", "APPLICANT_ID", "applicantId", "ApplicantID", "applicant-id", "applicant id", "applicant"),
    *("applicant_hash", "Applicant_Hash", "APPLICANTHASH", "applicant_number", "cccd", "CCCD", "so_cccd", "cmnd"),
    *("citizen_id", "CitizenId"),
]
# (a message, built from an event whose other field is wrong, so that it is a dead letter)


def _dead_letter_texts(message: bytes) -> list[str]:
    decoded = decode_message(message, CONTEXT)
    assert decoded.rejected and not decoded.events
    every_reject_explained(decoded)
    return [rejected.raw.decode("utf-8", "replace") for rejected in decoded.rejected] + [
        repr(rejected.raw) for rejected in decoded.rejected
    ]


@pytest.mark.parametrize("key", ODD_KEYS)
@pytest.mark.parametrize("number", [CCCD, CMND])
@pytest.mark.parametrize("form", ["string", "integer", "array", "object", "spaced"])
def test_number_under_an_applicant_like_key_is_withheld(key: str, number: str, form: str) -> None:
    value: Any = {
        "string": number,
        "integer": int(number),
        "array": [number, 1],
        "object": {"n": number},
        "spaced": f" {number} ",
    }[form]
    message = orjson.dumps(event(status=11, applicant_id=None, **{key: value}))
    texts = _dead_letter_texts(message)
    assert_hidden(number, texts)
    assert '"<withheld>"' in texts[0]
    assert orjson.loads(texts[0])["event_id"] == VALID["event_id"]  # the rest is kept, and still JSON


@pytest.mark.parametrize("number", [CCCD, CMND])
def test_number_in_applicant_hash_is_withheld(number: str) -> None:
    # applicant_hash is what the model stores; a raw number sent there is rejected, and never kept.
    texts = _dead_letter_texts(orjson.dumps(event(applicant_id=None, applicant_hash=number)))
    assert_hidden(number, texts)
    texts = _dead_letter_texts(orjson.dumps(event(applicant_hash=number, status=11)))
    assert_hidden(number, texts)


@pytest.mark.parametrize(
    "key",
    [
        rb'"applicant\u005fid"',
        rb'"\u0061pplicant_id"',
        rb'"APPLICANT\u005FID"',
        rb'"applicant\u005fhash"',
        rb'"\u0041pplicantId"',
    ],
)
def test_json_escaped_keys_are_recognised(key: bytes) -> None:
    line = orjson.dumps(event(status=11, applicant_id=None, Applicant_ID=CCCD))
    message = line.replace(b'"Applicant_ID"', key)
    assert key in message
    (text, _) = _dead_letter_texts(message)
    assert_hidden(CCCD, [text])
    assert key + b':"<withheld>"' in text.encode()


@pytest.mark.parametrize(
    "changes",
    [
        {"note": CCCD},  # a number alone under any key
        {"note": int(CCCD)},
        {"so_dinh_danh": CMND},
        {"extra": [CCCD, {"deep": [CMND]}]},
        {"record_id": f"CCCD {CCCD}"},  # inside a longer string: masked
        {"event_id": CCCD + " "},  # in a field the model rejects
        {"status": CCCD},
        {"province_code": CCCD},
        {"province_code_original": CCCD},
        {"paid_online": CCCD},
        {"event_time": CCCD},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_number_anywhere_is_withheld_from_dead_letter_bytes(changes: dict[str, Any]) -> None:
    payload = event(status=11, applicant_id=None) | changes
    for message in (orjson.dumps(payload), orjson.dumps([payload]), orjson.dumps([event(), payload])):
        for number in (CCCD, CMND):
            if number in message.decode():
                assert_hidden(number, _dead_letter_texts_only_rejected(message))


def _dead_letter_texts_only_rejected(message: bytes) -> list[str]:
    decoded = decode_message(message, CONTEXT)
    assert decoded.rejected
    return [rejected.raw.decode("utf-8", "replace") for rejected in decoded.rejected]


def test_cut_short_and_escaped_digits() -> None:
    line = orjson.dumps(event(status=11, applicant_id=None, ApplicantId=CCCD))
    for cut in range(len(line)):
        decoded = decode_message(line[:cut], CONTEXT)
        assert_hidden(CCCD, [r.raw.decode("utf-8", "replace") for r in decoded.rejected])
    escaped = "".join(f"\\u{ord(c):04x}" for c in CCCD).encode()
    message = orjson.dumps(event(status=11, applicant_id=None, note="X")).replace(b'"X"', b'"' + escaped + b'"')
    (text, _) = _dead_letter_texts(message)
    assert escaped.decode() not in text and '"note":"<withheld>"' in text


def test_redact_raw_rules() -> None:
    assert redact_raw(b'{"Applicant_ID":"x","a":null,"applicant_id":null}') == (
        b'{"Applicant_ID":"<withheld>","a":null,"applicant_id":null}'
    )
    assert redact_raw(b'{"n":[271234567, 5, 1234567890]}') == b'{"n":["<withheld>", 5, 1234567890]}'
    kept = b'{"t":"2025-08-01T10:00:00+07:00","id":"EV-1"}'
    assert redact_raw(kept) == kept
    assert redact_raw(b'{"applicant":{"a":[1,{"b":"c"}],"d":2},"e":3}') == b'{"applicant":"<withheld>","e":3}'
    assert redact_raw(b"CCCD 079203012345") == b"CCCD 079203012345"  # not JSON: models.decode masks it
    assert all(is_personal_key(k) for k in ODD_KEYS)
    assert not any(is_personal_key(k) for k in ("event_id", "status", "channel", "province_code_original"))
    assert is_citizen_number(CCCD) and is_citizen_number(int(CMND)) and not is_citizen_number(True)
    assert redact_text(f"id {CCCD}") == "id <digits>" and redact_text(CCCD) == "<withheld>"


@SETTINGS
@given(CITIZEN_IDS, st.sampled_from(ODD_KEYS), JSON_VALUES, st.integers(0, 400))
def test_property_odd_keys_never_leak(number: str, key: str, noise: Any, cut: int) -> None:
    line = orjson.dumps(event(status=11, applicant_id=None, **{key: number, "noise": noise}))
    for message in (line, line[:cut], orjson.dumps([orjson.loads(line), noise])):
        decoded = decode_message(message, CONTEXT)
        every_reject_explained(decoded)
        assert_hidden(number, [r.raw.decode("utf-8", "replace") for r in decoded.rejected])


# --- what models.decode shows in errors ---------------------------------------------------------------------------


# (not event_id: a 12-digit event id is valid, and no error shows it)
@pytest.mark.parametrize("field", ["status", "province_code", "event_time", "paid_online", "online_level"])
def test_field_errors_never_show_a_citizen_number(field: str) -> None:
    decoded = decode_message(orjson.dumps(event(applicant_id=None, **{field: CCCD})), CONTEXT)
    (rejected,) = decoded.rejected
    assert_hidden(CCCD, [rejected.reason, *(e.value for e in rejected.errors)])

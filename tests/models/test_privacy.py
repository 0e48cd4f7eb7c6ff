"""models/privacy.py: citizen ids (applicant_id) are validated, replaced by a keyed hash and never shown."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dvcpulse.models.decode import Decoded, decode_event, decode_message, field_errors
from dvcpulse.models.filing_event import FilingEvent
from dvcpulse.models.privacy import DEV_PII_KEY, citizen_id_hash
from tests.models.event_helpers import (
    CCCD,
    CITIZEN_IDS,
    CMND,
    CONTEXT,
    JSON_VALUES,
    KEY,
    SETTINGS,
    VALID,
    assert_hidden,
    decode,
    event,
    every_reject_explained,
    rejected_one,
    rejection_texts,
)

# --- applicant_id: validated, hashed with the context key, never shown ------------------------------------------


@pytest.mark.parametrize("number", [CCCD, CMND, "000000000", "999999999999"])
def test_applicant_id_is_hashed_to_32_hex(number: str) -> None:
    model = decode(event(applicant_id=number))
    assert re.fullmatch(r"[0-9a-f]{32}", model.applicant_hash or "")
    assert model.applicant_hash == citizen_id_hash(number, KEY.encode())
    assert number not in model.model_dump_json()


def test_applicant_id_null_is_none() -> None:
    assert decode(event(applicant_id=None)).applicant_hash is None


@pytest.mark.parametrize(
    "value",
    [
        *("12345", "0792030123", "07920301234", "0792030123456", "07920301234a", " 079203012345x", "079 203 012 345"),
        *(CCCD + "\n", "٠٧٩٢٠٣٠١٢٣٤٥", "０７９２０３０１２３４５", int(CCCD), [CCCD], True),
    ],
)
def test_applicant_id_invalid_is_rejected_without_its_value(value: Any) -> None:
    rejected = rejected_one(event(applicant_id=value))
    assert [(e.field, e.value) for e in rejected.errors] == [("applicant_id", "<withheld>")]
    assert "12-digit CCCD or 9-digit CMND" in rejected.reason
    assert_hidden(CCCD, rejection_texts(Decoded(rejected=[rejected])))
    assert "0792030" not in rejected.reason + rejected.raw.decode()


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"a longer key than one SHA-256 block, " * 3, "khóa".encode()])
def test_citizen_id_hash_is_hmac_sha256_truncated_to_128_bits(key: bytes) -> None:
    for number in (CCCD, CMND):
        assert citizen_id_hash(number, key) == hmac.new(key, number.encode(), hashlib.sha256).hexdigest()[:32]


def test_applicant_hash_depends_on_the_context_key(monkeypatch: pytest.MonkeyPatch) -> None:
    first = decode(VALID, {"pii_key": "key-one"}).applicant_hash
    again = decode(VALID, {"pii_key": "key-one"}).applicant_hash
    second = decode(VALID, {"pii_key": "key-two"}).applicant_hash
    assert first == again == citizen_id_hash(CCCD, b"key-one")
    assert second == citizen_id_hash(CCCD, b"key-two")
    assert first != second
    # Without a key in the context: the development key. The model never reads the environment: the worker
    # hands DVCPULSE_PII_KEY (Settings.pii_key) down in the context, so setting the variable changes nothing here.
    monkeypatch.delenv("DVCPULSE_PII_KEY", raising=False)
    assert decode(VALID, None).applicant_hash == citizen_id_hash(CCCD, DEV_PII_KEY.encode())
    monkeypatch.setenv("DVCPULSE_PII_KEY", "from-env")
    assert decode(VALID, None).applicant_hash == citizen_id_hash(CCCD, DEV_PII_KEY.encode())
    assert decode(VALID, {"pii_key": "key-one"}).applicant_hash == first


def test_stored_hash_round_trips_but_a_raw_number_under_its_name_is_refused() -> None:
    model = decode(VALID)
    again = FilingEvent.model_validate(model.model_dump())
    assert again == model
    with pytest.raises(ValidationError) as info:
        FilingEvent.model_validate({**model.model_dump(), "applicant_hash": CCCD})
    assert CCCD not in str(info.value)
    assert [(e.field, e.value) for e in field_errors(info.value)] == [("applicant_hash", "<withheld>")]


@pytest.mark.parametrize("number", [CCCD, CMND])
def test_citizen_id_never_in_model_output_or_logs(number: str, caplog: pytest.LogCaptureFixture) -> None:
    model = decode(event(applicant_id=number))
    texts = [
        repr(model),
        str(model),
        repr(model.model_dump()),
        model.model_dump_json(),
        repr(model.model_dump(mode="json")),
    ]
    assert "applicant_id" not in model.model_dump()
    bad = [
        event(applicant_id=number, status=11),  # a field error next to a valid id
        event(applicant_id=number + "0"),  # an invalid id
        orjson.dumps(event(applicant_id=number))[: len(orjson.dumps(event(applicant_id=None))) - 2],  # cut in the id
        b"[" + orjson.dumps(event(applicant_id=number, channel=7)) + b", " + number.encode() + b"]",
        number.encode(),  # a bare number
        b'"' + number.encode() + b'"',  # a JSON string, not an object
    ]
    log = logging.getLogger(__name__)
    with caplog.at_level(logging.DEBUG):
        log.info("event %r / %s / %s / %s", model, model, model.model_dump(), model.model_dump_json())
        for value in bad:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            decoded = decode_message(raw, CONTEXT)
            assert decoded.rejected
            texts += rejection_texts(decoded)
            for rejected in decoded.rejected:
                log.warning(
                    "rejected %s: %r raw=%r index=%s", rejected.reason, rejected.errors, rejected.raw, rejected.index
                )
                log.error("%s", rejected)
            if not raw.lstrip().startswith(b"["):
                with pytest.raises(ValidationError) as info:
                    decode_event(raw, CONTEXT)
                log.error("invalid event: %s", info.value)
                log.error("invalid event: %r", info.value)
                texts += [str(info.value), repr(info.value)]
    assert "rejected" in caplog.text
    assert_hidden(number, [*texts, caplog.text])


@SETTINGS
@given(CITIZEN_IDS, st.integers(0, 400), JSON_VALUES)
def test_property_citizen_ids_never_appear_in_rejections(number: str, cut: int, noise: Any) -> None:
    line = orjson.dumps(event(applicant_id=number, status=11))
    messages = [
        line,  # valid id, another field wrong
        line[:cut],  # cut short anywhere
        orjson.dumps(event(applicant_id=number + "1")),  # invalid id
        orjson.dumps(event(applicant_id=[number, noise])),  # not a string
        orjson.dumps(event(applicant_id=int(number))),  # a number
        orjson.dumps(event(applicant_id=number, event_id=noise)),
        line.replace(b'"applicant_id"', b'"applicant\\u005fid"'),  # an escaped key
        orjson.dumps(number),
        number.encode() + b" " + orjson.dumps(noise),
        orjson.dumps([event(applicant_id=number), noise, number, {"applicant_id": number}]),
        orjson.dumps([event(applicant_id=number)])[:cut],
    ]
    for message in messages:
        decoded = decode_message(message, CONTEXT)
        every_reject_explained(decoded)
        assert_hidden(number, rejection_texts(decoded))

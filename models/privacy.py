"""Citizen identifiers: validated, then replaced by a keyed hash before anything else sees them.

A raw CCCD (12 digits) or old CMND (9 digits) number never leaves the model: validation wraps it in
`Withheld` (whose repr hides it) and the model keeps only HMAC-SHA256(key, number), 32 hex characters.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

from pydantic import ValidationInfo

# ASCII digits only, whole string (fullmatch): `\d` would take other scripts' digits, `$` a trailing newline.
_CITIZEN_ID = re.compile(r"[0-9]{12}|[0-9]{9}")
_HASH = re.compile(r"[0-9a-f]{32}")
# The key when the caller gives none (validation context "pii_key"); the worker passes DVCPULSE_PII_KEY's value
# and warns when it is this one (deploy/PRODUCTION.md).
DEV_PII_KEY = "dvcpulse-development-key-change-me"


class Withheld:
    """A personal value in transit through validation; printing it shows nothing personal."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return "<withheld>"

    __str__ = __repr__


def _key(info: ValidationInfo | None) -> bytes:
    context = info.context if info is not None else None
    return _encoded(context["pii_key"] if context and context.get("pii_key") else DEV_PII_KEY)


@lru_cache(maxsize=8)
def _encoded(key: str) -> bytes:
    return str(key).encode()


_BLOCK = 64  # SHA-256 block size
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


@lru_cache(maxsize=8)
def _hmac_states(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states after the key's inner and outer pads (RFC 2104), computed once per key."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def citizen_id_hash(number: str, key: bytes) -> str:
    """HMAC-SHA256(key, number), first 128 bits in hex. Built from copies of the key's precomputed pad states:
    a third of the cost of the hmac module, which sets the key up again on every call."""
    inner_state, outer_state = _hmac_states(key)
    inner = inner_state.copy()
    inner.update(number.encode())
    outer = outer_state.copy()
    outer.update(inner.digest())
    return outer.digest()[:16].hex()


def hash_citizen_id(value: Any, info: ValidationInfo | None) -> str | None:
    """Validator body: a Withheld raw number becomes its keyed hash; a hash passes through unchanged."""
    if value is None:
        return None
    if isinstance(value, Withheld):
        number = value.value
        if not isinstance(number, str) or not _CITIZEN_ID.fullmatch(number):
            raise ValueError("applicant_id must be a 12-digit CCCD or 9-digit CMND number (value withheld)")
        return citizen_id_hash(number, _key(info))
    if isinstance(value, str) and _HASH.fullmatch(value):
        return value
    raise ValueError("applicant_hash must be 32 lowercase hex characters")


# The value of an applicant_id: a string (also one cut short by the end of the payload), a number, or a
# flat array. Anything else (an escaped key, nested arrays) is left to the caller: see models.decode.safe_raw.
_REDACT_JSON_FIELD = re.compile(rb'("applicant_id"\s*:\s*)("(?:[^"\\]|\\.)*(?:"|\\?\Z)|-?\d+|\[[^\[\]]*(?:\]|\Z))')


def redact_raw(payload: bytes) -> bytes:
    """Blank out applicant_id values in raw JSON bytes kept for dead letters."""
    return _REDACT_JSON_FIELD.sub(rb'\1"<withheld>"', payload)

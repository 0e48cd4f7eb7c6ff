"""Citizen identifiers: validated, then replaced by a keyed hash before anything else sees them.

A raw CCCD (12 digits) or old CMND (9 digits) number never leaves the model: validation wraps it in
`Withheld` (whose repr hides it) and the model keeps only HMAC-SHA256(key, number), 32 hex characters.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

import orjson
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


# --- raw bytes kept for dead letters: citizen numbers withheld by key and by value ---------------------------------
#
# Rules (redact_raw):
# - by key: the value of any object key that names an applicant or a citizen id, whatever its case, separators or
#   JSON escapes: the key, JSON-unescaped and case-folded, with everything but letters and digits dropped, contains
#   "applicant", "cccd", "cmnd" or "citizen" (applicant_id, applicant_hash, Applicant_ID, APPLICANT_ID, applicantId,
#   "applicant\u005fid", so_cccd, citizen_id, ...). The whole value is withheld, whatever it is (string, number,
#   array, object, or cut short by the end of the payload); only a null is kept.
# - by value: anywhere else, a JSON string or number that is a citizen number (exactly 9 or 12 ASCII digits, in a
#   string also with surrounding whitespace or written with \u escapes) is withheld, and inside any other string
#   (key or value) every run of 9 or more ASCII digits is masked as <digits> (one may hold a citizen number, as
#   models.decode assumes for text of unknown structure).
# What is not JSON (text around or after a cut) is left to the caller: models.decode masks every run of 9+ digits
# when the result is not a clean JSON object.
WITHHELD_JSON = b'"<withheld>"'
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)  # also one cut short by the end of the payload
_COLON = re.compile(rb"\s*:\s*")
_NULL = re.compile(rb"null\s*(?:[,\]}]|\Z)")
_CITIZEN_SHAPE = re.compile(r"\s*(?:[0-9]{12}|[0-9]{9})\s*")
# A bare JSON number of 9 or 12 digits as a member or array value (after `:`, `[` or `,`; before `,`, `]`, `}`).
_CITIZEN_NUMBER = re.compile(rb"(?<=[:\[,])(\s*)-?(?:[0-9]{12}|[0-9]{9})(?=\s*(?:[,\]}]|\Z))")
_LONG_DIGITS = re.compile(r"[0-9]{9,}")
_LONG_DIGIT_BYTES = re.compile(rb"[0-9]{9,}")
_KEY_WORDS = ("applicant", "cccd", "cmnd", "citizen")
_NOT_ALNUM = re.compile(r"[\W_]+")


def is_personal_key(key: str) -> bool:
    """True for a key that names an applicant or a citizen id (see the rules above)."""
    folded = _NOT_ALNUM.sub("", key.casefold())
    return any(word in folded for word in _KEY_WORDS)


def is_citizen_number(value: Any) -> bool:
    """True for a value shaped like a CCCD/CMND number: 9 or 12 ASCII digits (an integer, or a string whose
    surrounding whitespace is ignored)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        value = str(abs(value))
    return isinstance(value, str) and _CITIZEN_SHAPE.fullmatch(value) is not None


def _string_text(token: bytes) -> str | None:
    """The text of a JSON string token; None if it is cut short or not valid JSON."""
    if len(token) < 2 or token[-1:] != b'"':
        return None
    if b"\\" not in token:
        return token[1:-1].decode("utf-8", "replace")
    try:
        text = orjson.loads(token)
    except orjson.JSONDecodeError:
        return None
    return text if isinstance(text, str) else None


def _value_end(payload: bytes, pos: int) -> int:
    """Where the JSON value starting at `pos` ends (strings skipped whole, brackets balanced); a value cut short by
    the end of the payload runs to the end."""
    depth = 0
    size = len(payload)
    while pos < size:
        char = payload[pos]
        if char == 0x22:  # '"'
            pos = _STRING.match(payload, pos).end()  # type: ignore[union-attr]  # always matches at a quote
            if depth == 0:
                return pos
            continue
        if char in b"[{":
            depth += 1
        elif char in b"]}":
            depth -= 1
            if depth <= 0:
                return pos + 1 if depth == 0 else pos
        elif char == 0x2C and depth == 0:  # ','
            return pos
        pos += 1
    return size


def redact_raw(payload: bytes) -> bytes:
    """Citizen numbers withheld in raw JSON bytes kept for dead letters, by key and by value (rules above)."""
    payload = bytes(payload)
    out: list[bytes] = []
    pos, size = 0, len(payload)
    while pos < size:
        quote = payload.find(b'"', pos)
        if quote < 0:
            out.append(_CITIZEN_NUMBER.sub(rb"\1" + WITHHELD_JSON, payload[pos:]))
            break
        out.append(_CITIZEN_NUMBER.sub(rb"\1" + WITHHELD_JSON, payload[pos:quote]))
        token = _STRING.match(payload, quote)[0]  # type: ignore[index]  # always matches at a quote
        pos = quote + len(token)
        text = _string_text(token)
        colon = _COLON.match(payload, pos) if token.endswith(b'"') else None
        if colon is not None and (text is None or is_personal_key(text)):
            out += [token, colon[0]]
            pos = colon.end()
            if pos < size and not _NULL.match(payload, pos):
                out.append(WITHHELD_JSON)
                pos = _value_end(payload, pos)
            continue
        out.append(_masked_string(token, text, is_key=colon is not None))
    return b"".join(out)


def _masked_string(token: bytes, text: str | None, is_key: bool) -> bytes:
    """A string token with citizen numbers withheld: a value that is one whole, any run of 9+ digits masked."""
    if text is None:  # cut short or not valid JSON: mask on the bytes
        return _LONG_DIGIT_BYTES.sub(b"<digits>", token)
    if not is_key and _CITIZEN_SHAPE.fullmatch(text):
        return WITHHELD_JSON
    if _LONG_DIGITS.search(text) is None:
        return token
    return orjson.dumps(_LONG_DIGITS.sub("<digits>", text))


def redact_text(text: str) -> str:
    """A value shown in an error or a log: a citizen-number-shaped text withheld whole; elsewhere any run of
    9 or more ASCII digits is masked (it may hold one)."""
    if _CITIZEN_SHAPE.fullmatch(text):
        return "<withheld>"
    return _LONG_DIGITS.sub("<digits>", text)

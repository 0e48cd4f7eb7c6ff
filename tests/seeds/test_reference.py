"""Reference data in seeds/data, through the cached loaders of seeds.reference (checks listed in SOURCES.md)."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import pytest

from dvcpulse.seeds.reference import (
    OTHER_SERVICE,
    legacy_provinces,
    provinces,
    service_codes,
    services,
    status_codes,
    to_2025_province,
)

# Mis-decoded UTF-8 (mojibake) shows up as these; none of them is Vietnamese.
_MOJIBAKE = re.compile("Ã|Æ|á»|áº|Ä|Â°|\ufffd")
_VIETNAMESE_MARKS = re.compile("[ăâđêôơưĂÂĐÊÔƠƯ]|[\u0300-\u0323]")


def _csv(name: str) -> list[dict[str, str]]:
    text = files("dvcpulse.seeds").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _has_diacritics(text: str) -> bool:
    return bool(_VIETNAMESE_MARKS.search(unicodedata.normalize("NFD", text)))


# --- the 34 provincial units since 2025-07-01 -----------------------------------------------------------------


def test_34_provinces_with_unique_two_digit_codes() -> None:
    rows = _csv("provinces_2025.csv")
    assert len(rows) == 34
    codes = [row["code"] for row in rows]
    assert len(set(codes)) == 34, Counter(codes).most_common(3)
    assert all(re.fullmatch(r"[0-9]{2}", code) for code in codes)
    assert list(provinces()) == codes
    assert all(province.code == code for code, province in provinces().items())


def test_province_names_are_unique_vietnamese_with_diacritics() -> None:
    names = [p.name for p in provinces().values()]
    assert len(set(names)) == 34
    for name in names:
        assert name == name.strip() and unicodedata.is_normalized("NFC", name), name
        assert not _MOJIBAKE.search(name), name
    assert sum(_has_diacritics(name) for name in names) >= 30  # "Gia Lai" is one of the few without
    assert provinces()["79"].name == "Thành phố Hồ Chí Minh"
    assert provinces()["01"].name == "Thành phố Hà Nội"
    assert provinces()["46"].name == "Thành phố Huế"
    assert provinces()["48"].name == "Thành phố Đà Nẵng"
    assert provinces()["38"].name == "Thanh Hóa"
    assert provinces()["66"].name == "Đắk Lắk"
    assert provinces()["52"].name == "Gia Lai"
    cities = {code for code, p in provinces().items() if p.name.startswith("Thành phố ")}
    assert cities == {"01", "31", "46", "48", "79", "92"}


# --- the 63 legacy units and where they went ---------------------------------------------------------------------


def test_63_legacy_units_with_unique_codes() -> None:
    rows = _csv("provinces_legacy_63.csv")
    assert len(rows) == 63
    codes = [row["old_code"] for row in rows]
    assert len(set(codes)) == 63, Counter(codes).most_common(3)
    assert len(legacy_provinces()) == 63
    assert all(re.fullmatch(r"[0-9]{2}", code) for code in codes)
    assert len({unit.old_name for unit in legacy_provinces().values()}) == 63
    for unit in legacy_provinces().values():
        assert not _MOJIBAKE.search(unit.old_name) and unicodedata.is_normalized("NFC", unit.old_name)


def test_every_legacy_unit_maps_to_a_2025_unit_and_every_2025_unit_receives_one() -> None:
    current = set(provinces())
    targets = Counter(unit.new_code for unit in legacy_provinces().values())
    assert set(targets) <= current, set(targets) - current
    assert set(targets) == current  # every 2025 unit receives at least one legacy unit
    assert all(count >= 1 for count in targets.values())


def test_a_2025_code_that_is_also_a_legacy_code_maps_to_itself() -> None:
    legacy = legacy_provinces()
    shared = set(provinces()) & set(legacy)
    assert shared == set(provinces())  # SOURCES.md: every 2025 code is also a legacy code
    for code in shared:
        assert legacy[code].new_code == code, legacy[code]


def test_23_merged_units_absorb_all_63() -> None:
    targets = Counter(unit.new_code for unit in legacy_provinces().values())
    merged = {code for code, count in targets.items() if count >= 2}
    unchanged = {code for code, count in targets.items() if count == 1}
    assert len(merged) == 23
    assert len(unchanged) == 34 - 23
    assert sum(targets.values()) == 63
    assert sum(targets[code] for code in merged) == 63 - len(unchanged)
    assert max(targets.values()) == 3  # e.g. TP Hồ Chí Minh: 74 + 77 + 79
    assert {code for code, count in targets.items() if count == 3} >= {"79", "92"}


@pytest.mark.parametrize(
    ("old_code", "old_name", "new_code"),
    [
        ("02", "Hà Giang", "08"),
        ("74", "Bình Dương", "79"),
        ("77", "Bà Rịa - Vũng Tàu", "79"),
        ("89", "An Giang", "91"),
        ("91", "Kiên Giang", "91"),
        ("72", "Tây Ninh", "80"),
        ("64", "Gia Lai", "52"),
        ("79", "TP Hồ Chí Minh", "79"),
    ],
)
def test_legacy_spot_checks(old_code: str, old_name: str, new_code: str) -> None:
    unit = legacy_provinces()[old_code]
    assert (unit.old_name, unit.new_code) == (old_name, new_code)
    assert to_2025_province(old_code) == new_code


def test_to_2025_province() -> None:
    assert to_2025_province("79") == "79"
    assert to_2025_province("74") == "79"
    for code in ("03", "99", "", "7", "079"):
        assert to_2025_province(code) is None


# --- the 25 essential services --------------------------------------------------------------------------------


def test_25_services_dv01_to_dv25() -> None:
    assert len(_csv("essential_services_25.csv")) == 25
    assert len(_csv("service_profiles.csv")) == 25
    assert list(services()) == [f"DV{n:02d}" for n in range(1, 26)]
    assert [s.no for s in services().values()] == list(range(1, 26))
    assert service_codes() == frozenset(services()) | {OTHER_SERVICE}
    assert OTHER_SERVICE == "OTHER" and len(service_codes()) == 26


def test_services_have_names_levels_and_shares() -> None:
    for code, service in services().items():
        assert service.code == code
        assert service.name_vi.strip() and service.gloss_en.strip() and service.authority.strip(), code
        assert unicodedata.is_normalized("NFC", service.name_vi) and not _MOJIBAKE.search(service.name_vi)
        assert service.online_level in {"full", "partial"}, code
        assert 0.0 <= service.typical_online_share <= 1.0, code
        assert service.share_source.split(":")[0] in {"published", "assumption"}, service.share_source
    assert sum(_has_diacritics(s.name_vi) for s in services().values()) == 25
    assert services()["DV03"].name_vi == "Đăng ký thường trú"
    assert services()["DV02"].high_volume is True and services()["DV01"].high_volume is False


@pytest.mark.parametrize(
    ("code", "share"), [("DV01", 1.0), ("DV06", 0.989), ("DV12", 0.882), ("DV13", 0.942), ("DV24", 0.774)]
)
def test_published_shares(code: str, share: float) -> None:
    service = services()[code]
    assert service.typical_online_share == pytest.approx(share, abs=1e-9)
    assert service.share_source.startswith("published:")
    assert f"{share * 100:g}%" in service.share_source


def test_only_the_published_shares_are_marked_published() -> None:
    published = {code for code, s in services().items() if s.share_source.startswith("published")}
    assert published == {"DV01", "DV06", "DV12", "DV13", "DV24"}


# --- record status codes ---------------------------------------------------------------------------------------


def test_status_codes_1_to_10_in_both_languages() -> None:
    codes = status_codes()
    assert len(_csv("status_codes.csv")) == 10
    assert list(codes) == list(range(1, 11))
    for code, status in codes.items():
        assert status.code == code
        assert status.name_vi.strip() and status.name_en.strip()
        assert _has_diacritics(status.name_vi), status.name_vi
        # English, not Vietnamese: no Vietnamese letter, and not the Vietnamese name with its marks taken off.
        assert not _has_diacritics(status.name_en), f"name_en has Vietnamese letters: {status.name_en}"
        unmarked = unicodedata.normalize("NFD", status.name_vi.replace("đ", "d").replace("Đ", "D"))
        unmarked = "".join(char for char in unmarked if not unicodedata.combining(char))
        assert status.name_en.casefold() != unmarked.casefold(), f"name_en is name_vi without marks: {status.name_en}"
    assert len({s.name_vi for s in codes.values()}) == len({s.name_en for s in codes.values()}) == 10
    assert (codes[1].name_vi, codes[1].name_en) == ("Mới đăng ký", "Registered")
    assert (codes[10].name_vi, codes[10].name_en) == ("Đã trả kết quả", "Result returned")
    assert {code for code, s in codes.items() if s.terminal} == {3, 7, 8, 10}


# --- what the loaders hand out ----------------------------------------------------------------------------------


@pytest.mark.parametrize("loader", [provinces, legacy_provinces, services, service_codes, status_codes])
def test_loaders_hand_out_the_same_read_only_data_on_every_call(loader: Callable[[], Any]) -> None:
    """The event validators call these for every event and share what they get: every call must give the same
    data, each entity keyed by its own code, and no caller may change an entity under the others."""
    from pydantic import BaseModel, ValidationError

    first = loader()
    assert first and loader() == first
    if isinstance(first, frozenset):  # service_codes: immutable as a whole, and the services' codes plus OTHER
        assert first == frozenset(services()) | {OTHER_SERVICE}
        return
    for key, entity in first.items():
        assert isinstance(entity, BaseModel), entity
        assert key == getattr(entity, "old_code", getattr(entity, "code", None)), (key, entity)
        field = next(iter(type(entity).model_fields))
        with pytest.raises(ValidationError, match="frozen"):
            setattr(entity, field, getattr(entity, field))
    assert loader() == first

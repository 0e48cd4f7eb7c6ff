"""The Decision 766 facts in seeds/data (index_766_groups.csv, index_766_indicators.csv) and their loader."""

from __future__ import annotations

import unicodedata

import pytest
from pydantic import ValidationError

from dvcpulse.models.index_766 import DERIVED_INDICATORS
from dvcpulse.seeds.index_766 import SOURCE_KEYS, index_groups, index_indicators


def test_six_groups_in_the_portals_order_summing_to_100() -> None:
    groups = index_groups()
    assert list(groups) == ["CKMB", "TDGQ", "CLGQ", "TTTT", "MDSH", "MDHL"]
    assert [g.no for g in groups.values()] == [1, 2, 3, 4, 5, 6]
    assert {code: g.max_points for code, g in groups.items()} == {
        "CKMB": 18, "TDGQ": 20, "CLGQ": 12, "TTTT": 10, "MDSH": 22, "MDHL": 18,
    }  # fmt: skip
    assert sum(g.max_points for g in groups.values()) == 100
    assert groups["MDSH"].name_vi == "Mức độ số hóa hồ sơ" and groups["TDGQ"].api_endpoint == "dvc-progress-tree"


def test_indicator_points_add_up_to_each_group() -> None:
    indicators = index_indicators()
    assert len(indicators) == 24
    for code, group in index_groups().items():
        members = [i for i in indicators.values() if i.group == code]
        assert members, code
        assert sum(i.max_points or 0 for i in members) == group.max_points, code


def test_every_fact_names_its_sources_and_keeps_its_diacritics() -> None:
    for item in [*index_groups().values(), *index_indicators().values()]:
        assert item.sources and set(item.sources) <= SOURCE_KEYS, item
        assert unicodedata.is_normalized("NFC", item.name_vi) and "Ã" not in item.name_vi, item.name_vi
    assert index_indicators()["2.1"].name_vi == "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn"
    assert index_indicators()["5.4"].name_vi == "Tỷ lệ hài lòng trong tiếp nhận, giải quyết TTHC"


def test_scoring_rules_are_complete() -> None:
    for item in index_indicators().values():
        if item.scoring in ("target", "target_uncapped"):
            assert item.target is not None, item.code
        if item.scored:
            assert item.max_points and item.max_points > 0, item.code
        assert (item.dvcpulse == "not") or item.dvcpulse_reason, item.code
        assert item.dvcpulse_reason, item.code


@pytest.mark.parametrize(
    ("code", "target", "max_points", "scoring", "if_empty"),
    [
        ("1.4", None, 6, "linear", "fallback"),
        ("2.1", None, 20, "linear", "unknown"),
        ("2.2", None, None, "none", "unknown"),
        ("3.3", 0.5, None, "target", "unknown"),
        ("3.5a", 0.8, 2, "target_uncapped", "zero"),
        ("3.5b", 0.8, 2, "target", "zero"),
        ("3.6", None, 6, "linear", "zero"),
        ("4.1", None, 6, "capped", "unknown"),
        ("4.3", 0.8, 2, "target", "unknown"),
        ("5.2", None, 6, "linear", "full"),
        ("5.4", 0.9, 6, "target", "zero"),
        ("MX6", None, 12, "unresolved", "unknown"),
    ],
)
def test_spot_checks_against_index_766_md(
    code: str, target: float | None, max_points: float | None, scoring: str, if_empty: str
) -> None:
    item = index_indicators()[code]
    assert (item.target, item.max_points, item.scoring, item.if_empty) == (target, max_points, scoring, if_empty)


def test_the_verdicts_match_what_models_index_766_computes() -> None:
    computed = {code for code, i in index_indicators().items() if i.dvcpulse != "not"}
    assert computed == set(DERIVED_INDICATORS)
    assert {code for code, i in index_indicators().items() if i.dvcpulse == "partly"} == {"1.4", "3.3", "3.5b"}
    assert {code for code, i in index_indicators().items() if i.province_only} == {"MX6", "4.5a", "4.5b"}


def test_loaders_hand_out_the_same_frozen_data() -> None:
    assert index_indicators() is index_indicators() and index_groups() is index_groups()
    with pytest.raises(ValidationError, match="frozen"):
        index_indicators()["2.1"].max_points = 10  # type: ignore[misc]

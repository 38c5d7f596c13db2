"""Blocking keeps a repeat within reach when its record gives no birth year, however many namesakes
its block holds."""

from __future__ import annotations

from services.registry.rules.matching.blocking import RULES, block
from services.registry.rules.matching.engine import Index
from services.registry.rules.matching.table import build_table
from services.registry.service.matching.models import default_model

AREA = "BD-40-87-90-54-"


def _namesakes() -> list[dict[str, str]]:
    # 60 men called Rahim Uddin in one union's 20 wards, born 1940..1999, each with his own father.
    return [{"record_id": f"n{i}", "given_name": "Rahim", "family_name": "Uddin", "sex": "male",
             "guardian_name": f"Father{i} Uddin", "guardian_relation": "father", "birth_year": str(1940 + i),
             "area_code": f"{AREA}{i % 20:02d}"} for i in range(60)]


REPEAT = {"record_id": "again", "given_name": "Md. Rahim", "family_name": "Uddin", "sex": "male",
          "area_code": f"{AREA}03"}  # n43's ward, no birth year, no guardian


def test_a_record_without_a_birth_year_is_compared_with_its_namesakes_of_its_own_area() -> None:
    # Ordered by birth year, a record without one sorts first in its block and met only the earliest-born
    # namesakes; the record born in 1983 in the same ward was out of reach.
    table = build_table([*_namesakes(), REPEAT])
    blocked = block(table)
    pairs = set(zip(blocked.left.tolist(), blocked.right.tolist(), strict=True))
    assert (43, 60) in pairs
    assert blocked.per_rule["given+family (either order), no birth year, by area"] > 0
    # The extra rules compare only pairs with a record without a birth year: the 60 namesakes who all have
    # one are not compared with one another by them.
    without = block(table, RULES[:-2])
    extra = pairs - set(zip(without.left.tolist(), without.right.tolist(), strict=True))
    assert extra and all(60 in pair for pair in extra)


def test_the_incremental_index_finds_the_same_namesakes_for_a_new_record_without_a_birth_year() -> None:
    table = build_table(_namesakes())
    index = Index(table, default_model())
    assert 43 in index.candidates(index.one(REPEAT)).tolist()
    # A new record with a birth year meets, through these rules, the held record without one.
    held = build_table([*_namesakes(), REPEAT])
    index = Index(held, default_model())
    assert 60 in index.candidates(index.one({**_namesakes()[43], "record_id": "born"})).tolist()

"""The matcher on a labelled population it was not tuned on (seed 2; tuning used seed 1): precision and
recall at the default threshold, blocking recall, and the hard negatives kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from services.registry.rules.matching.cluster import clusters
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD, Index, match
from services.registry.rules.matching.table import build_table
from tests.registry.matching_truth import generate

RECORDS = 12_000
EVALUATION_SEED = 2


@pytest.fixture(scope="module")
def evaluated():
    truth = generate(RECORDS, EVALUATION_SEED)
    table = build_table(truth.rows)
    return truth, table, match(table)


def _pairs(table, left, right) -> set[tuple[str, str]]:
    ids = table.ids
    return {(a, b) if a < b else (b, a) for a, b in ((ids[i], ids[j]) for i, j in zip(left, right, strict=True))}


def test_precision_and_recall_at_the_default_threshold(evaluated):
    truth, table, result = evaluated
    true = truth.true_pairs()
    keep = result.above()
    found = _pairs(table, result.blocked.left[keep], result.blocked.right[keep])
    blocked = _pairs(table, result.blocked.left, result.blocked.right)
    hits = len(found & true)
    precision, recall = hits / max(len(found), 1), hits / len(true)
    print(f"\nrecords {len(table)}, true pairs {len(true)}, comparisons {result.blocked.comparisons} "
          f"{result.blocked.per_rule}\nblocking recall {len(blocked & true) / len(true):.4f}; at threshold "
          f"{DEFAULT_THRESHOLD}: precision {precision:.4f} recall {recall:.4f}")
    assert len(blocked & true) / len(true) >= 0.98
    # Measured 2026-12-07 on this seed: P 0.953, R 0.964 (docs/matching.md); the goal P 0.98 is not met.
    assert recall >= 0.94
    assert precision >= 0.92


def test_a_twin_and_a_son_named_after_his_father_are_not_linked(evaluated):
    _, table, result = evaluated
    base = {"family_name": "Mondal", "guardian_relation": "father", "area_code": "BD-10-15-44-93-02",
            "phone": "01712345678"}
    rows = [
        {**base, "record_id": "twin-a", "given_name": "Rakib", "guardian_name": "Harun Mondal", "sex": "male",
         "dob": "2012-04-01"},
        {**base, "record_id": "twin-b", "given_name": "Sakib", "guardian_name": "Harun Mondal", "sex": "male",
         "dob": "2012-04-01"},
        {**base, "record_id": "father", "given_name": "Harun", "guardian_name": "Babul Mondal", "sex": "male",
         "dob": "1980-02-02"},
        {**base, "record_id": "son", "given_name": "Harun", "guardian_name": "Harun Mondal", "sex": "male",
         "dob": "2008-06-06"},
        {**base, "record_id": "same-son", "given_name": "মোঃ হারুন", "family_name": "মন্ডল",
         "guardian_name": "হারুন মন্ডল", "sex": "male", "birth_year": "2008", "phone": "+880 1712-345678"},
    ]
    index = Index(table, result.model)
    for row in rows:
        others = index.one(row)
        assert others is not None
    small = build_table(rows)
    from services.registry.rules.matching.compare import compare

    left, right = np.array([0, 2, 3]), np.array([1, 3, 4])
    levels = compare(small, left, small, right)
    from services.registry.rules.matching.engine import cap, is_hard_negative

    prob = cap(is_hard_negative(levels), result.model.probability(levels))
    assert prob[0] < 0.05, "twins"
    assert prob[1] < 0.05, "father and son"
    assert prob[2] > DEFAULT_THRESHOLD, "the son's two records"


def test_incremental_check_finds_what_the_batch_found(evaluated):
    truth, table, result = evaluated
    keep = np.nonzero(result.above())[0][:50]
    index = Index(table, result.model)
    found = 0
    for k in keep:
        row = truth.rows[int(result.blocked.left[k])]
        hits = {i for i, _ in index.check(row)}
        found += int(result.blocked.right[k]) in hits
    assert found >= 0.9 * len(keep)


def test_clustering_does_not_chain_people_through_a_weak_link():
    # a~b strong, b~c strong, a~c scored and clearly different: a, b, c must not become one person.
    left, right = np.array([0, 1, 0]), np.array([1, 2, 2])
    prob = np.array([0.99, 0.97, 0.001])
    labels = clusters(3, left, right, prob, threshold=0.95)
    assert labels[0] == labels[1] and labels[2] != labels[0]
    labels = clusters(3, left[:2], right[:2], prob[:2], threshold=0.95)
    assert len(set(labels.tolist())) == 1

"""The matcher on a labelled population it was not tuned on (seed 2; tuning used seeds 1, 3 and 4): precision
and recall at the default threshold, blocking recall, the learned prior, and the hard negatives kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from services.registry.rules.matching.cluster import clusters, consistent
from services.registry.rules.matching.engine import DEFAULT_THRESHOLD, Index, Scorer, match
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
    left, right, keep = result.blocked.left, result.blocked.right, result.above()
    found = _pairs(table, left[keep], right[keep])  # what the registry's queue would be offered
    # What `gramsetu registry match` writes: the pairs the clustering kept (its guard reads every pair).
    labels = clusters(len(table), left, right, result.probability, threshold=DEFAULT_THRESHOLD)
    kept = keep & consistent(labels, left, right)
    written = _pairs(table, left[kept], right[kept])
    blocked = _pairs(table, left, right)
    hits, written_hits = len(found & true), len(written & true)
    precision, recall = hits / max(len(found), 1), hits / len(true)
    written_precision, written_recall = written_hits / max(len(written), 1), written_hits / len(true)
    n = len(table)
    prior_ratio = result.model.prior / (len(true) / (n * (n - 1) / 2))
    print(f"\nrecords {n}, true pairs {len(true)}, comparisons {result.blocked.comparisons} "
          f"{result.blocked.per_rule}\nblocking recall {len(blocked & true) / len(true):.4f}; learned prior "
          f"{prior_ratio:.2f} x the true one; at threshold {DEFAULT_THRESHOLD}: precision {precision:.4f} recall "
          f"{recall:.4f} (all pairs at or above it), written by the file mode (cluster-consistent): precision "
          f"{written_precision:.4f} recall {written_recall:.4f}")
    assert len(blocked & true) / len(true) >= 0.98
    # The prior learned without labels was 3.6 x the true one before the name session's matches were
    # judged on its own fields (fellegi_sunter.train).
    assert 0.7 <= prior_ratio <= 1.5
    # Measured once on this seed, 2026-12-07 (session 8, household compared, a father and his namesake
    # son kept apart when a birth is missing): all pairs P 0.982 R 0.969, written pairs P 0.987 R 0.964
    # (docs/matching.md; session 7: 0.972 / 0.966 and 0.978 / 0.962).  The goal: P >= 0.98, R >= 0.95.
    assert recall >= 0.96 and written_recall >= 0.96
    assert precision >= 0.98 and written_precision >= 0.98


def test_a_twin_and_a_son_named_after_his_father_are_not_linked(evaluated):
    _, table, result = evaluated
    base = {"family_name": "Mondal", "guardian_relation": "father", "area_code": "BD-10-15-44-93-02",
            "phone": "01712345678", "household": "H-1207"}  # one household: its agreement links none of them
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
        {**base, "record_id": "son-no-birth", "given_name": "Md. Harun", "guardian_name": "Harun Mondal",
         "sex": "male"},
    ]
    index = Index(table, result.model)
    for row in rows:
        others = index.one(row)
        assert others is not None
    small = build_table(rows)
    left, right = np.array([0, 2, 3, 2, 3]), np.array([1, 3, 4, 5, 5])
    _, prob = Scorer(result.model, small.vocab.strings).score(small, left, small, right)
    assert prob[0] < 0.05, "twins"
    assert prob[1] < 0.05, "father and son"
    assert prob[2] > DEFAULT_THRESHOLD, "the son's two records"
    assert prob[3] < 0.05, "father and son, the son's birth unknown: his guardian is his father's own name"
    assert prob[4] > DEFAULT_THRESHOLD, "the son's records, one without a birth"


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


def _pair(model, one: dict[str, str], other: dict[str, str]) -> tuple[dict[str, str], float]:
    table = build_table([{"record_id": "a", **one}, {"record_id": "b", **other}])
    levels, prob = Scorer(model, table.vocab.strings).score(table, np.array([0]), table, np.array([1]))
    from services.registry.rules.matching.engine import explain

    return {str(f["field"]): str(f["level"]) for f in explain(model, levels[0])}, float(prob[0])


def test_brothers_with_one_shared_name_part_are_not_one_person(evaluated):
    # Kamrul Alam and Kamrul Islam: same father, family and ward, born two years apart.
    base = {"family_name": "Sardar", "guardian_name": "Shahin Sardar", "guardian_relation": "father",
            "sex": "male", "area_code": "BD-60-14-44-91-02"}
    levels, prob = _pair(evaluated[2].model, {**base, "given_name": "Md. Kamrul Alam", "dob": "2009-04-16"},
                         {**base, "given_name": "Kamrul Islam", "dob": "2011-10-29"})
    assert levels["given_name"] == "different" and prob < 0.05
    levels, prob = _pair(evaluated[2].model, {**base, "given_name": "Md. Kamrul Alam", "dob": "2009-04-16"},
                         {**base, "given_name": "কামরুল আলম", "birth_year": "2009"})
    assert levels["given_name"] in ("similar", "close", "exact") and prob >= DEFAULT_THRESHOLD


def test_guardians_are_compared_part_by_part(evaluated):
    base = {"given_name": "Rupa", "family_name": "Mishra", "guardian_relation": "husband", "sex": "female",
            "area_code": "IN-12-160-1242-010206-02"}
    levels, _ = _pair(evaluated[2].model, {**base, "guardian_name": "Kailash Mishra"},
                      {**base, "guardian_name": "Krishna Mishra"})
    assert levels["guardian"] == "different"
    levels, _ = _pair(evaluated[2].model, {**base, "guardian_name": "Shafiqul Rahman Chowdhury"},
                      {**base, "guardian_name": "Shafiqul Rahman Howlader"})
    assert levels["guardian"] == "different"
    levels, _ = _pair(evaluated[2].model, {**base, "guardian_name": "Abdul Karim"},
                      {**base, "guardian_name": "আব্দুল করিম খান"})
    assert levels["guardian"] == "close"


def test_declared_births_four_years_apart_are_two_people_and_an_estimate_is_allowed_more(evaluated):
    base = {"given_name": "Rita", "family_name": "Roy", "guardian_name": "Gopal Roy", "guardian_relation": "husband",
            "sex": "female", "area_code": "BD-30-15-44-95-02"}
    levels, prob = _pair(evaluated[2].model, {**base, "dob": "1970-12-24"}, {**base, "dob": "1966-05-10"})
    assert levels["birth"] == "apart beyond recording error" and prob < 0.05
    levels, prob = _pair(evaluated[2].model, {**base, "dob": "1970-12-24"},
                         {**base, "age_estimate": "50", "registered_on": "2025-01-01"})
    assert levels["birth"] == "4 to 6 years (an estimate)"


def test_a_swapped_name_counts_as_common_as_it_is_in_its_own_column(evaluated):
    # "Chauhan" is a rare given name only because it is a family name: swapped, it earns no rarity bonus.
    base = {"guardian_relation": "father", "sex": "female", "area_code": "IN-12-150-1285-010303-04"}
    _, straight = _pair(evaluated[2].model, {**base, "given_name": "Geeta", "family_name": "Chauhan"},
                        {**base, "given_name": "Geeta", "family_name": "Chauhan"})
    _, swapped = _pair(evaluated[2].model, {**base, "given_name": "Chauhan", "family_name": "Geeta"},
                       {**base, "given_name": "Geeta", "family_name": "Chauhan"})
    assert swapped <= straight + 1e-9

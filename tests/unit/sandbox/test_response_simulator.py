"""The market simulator's pure parts: who responds or buys, the population file, the plan's checks."""

from __future__ import annotations

import random

import pytest

from sandbox.generator.response import Person, SegmentPlan, _check_disjoint, choose, population_from_rows


def test_exact_draws_realise_the_rate_and_repeat_with_the_seed() -> None:
    people = [f"p{i:03d}" for i in range(200)]
    first = choose(people, 0.3, random.Random(5), "exact")
    assert len(first) == 60 and first == choose(list(reversed(people)), 0.3, random.Random(5), "exact")
    assert first != choose(people, 0.3, random.Random(6), "exact")
    assert len(choose(people[:7], 0.5, random.Random(1), "exact")) == 4  # round(3.5), to even: 4
    drawn = choose(people * 50, 0.3, random.Random(5), "bernoulli")
    assert 0.25 < len(drawn) / 10_000 < 0.35
    with pytest.raises(ValueError, match="draw must be one of"):
        choose(people, 0.3, random.Random(5), "poisson")


def test_population_rows_group_records_per_person_and_segment() -> None:
    rows = [
        {"segment_name": "a", "person_id": "cus_1", "record_id": "003B", "is_holdout": "false"},
        {"segment_name": "a", "person_id": "cus_1", "record_id": "003A", "is_holdout": "false"},
        {"segment_name": "a", "person_id": "cus_1", "record_id": "00QA", "is_holdout": "false"},
        {"segment_name": "a", "person_id": "cus_2", "record_id": "00QB", "is_holdout": "True"},
        {"segment_name": "b", "person_id": "cus_1", "record_id": "003A", "is_holdout": "1"},
    ]
    population = population_from_rows(rows)
    assert population["a"] == [Person("cus_1", ("003A", "003B"), ("00QA",), False),
                               Person("cus_2", (), ("00QB",), True)]
    assert population["b"] == [Person("cus_1", ("003A",), (), True)]


def test_a_plan_must_give_probabilities_and_disjoint_segments() -> None:
    with pytest.raises(ValueError, match="is not a probability"):
        SegmentPlan("a", "A", 0.2, 0.6, lift=1.0)
    with pytest.raises(ValueError, match="response_rate must be in"):
        SegmentPlan("a", "A", 1.2, 0.3, lift=0.0)
    plans = [SegmentPlan("a", "A", 0.2, 0.3, 1.0), SegmentPlan("b", "B", 0.2, 0.3, 0.0)]
    shared = Person("cus_1", ("003A",))
    with pytest.raises(ValueError, match="cus_1 is in the populations of both a and b"):
        _check_disjoint(plans, {"a": [shared], "b": [shared]})
    with pytest.raises(ValueError, match="segment b: no population"):
        _check_disjoint(plans, {"a": [shared]})

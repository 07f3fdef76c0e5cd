"""Data-quality rules: inferred from training data, plain editable JSON, and checked per batch with
counts and sample rows / event ids for every broken rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from flywheel.errors import ValidationError
from flywheel.monitor.quality import QualityRules, check, infer_rules

KINDS = {"age": "numeric", "income": "numeric", "country": "categorical", "note": "text"}


def _train(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = 1_700_000_000 - 1_700_000_000 % 3600
    return pd.DataFrame(
        {
            "event_id": [f"t{i}" for i in range(n)],
            "ts": start + np.sort(rng.integers(0, 20 * 3600, n)),
            "age": rng.integers(18, 90, n),
            "income": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(10, 1, n)),
            "country": rng.choice(["fr", "de", "it"], n),
            "note": rng.choice(["ok", "call back", None], n),
        }
    )


def test_the_training_data_satisfies_its_own_rules():
    train = _train()
    rules = infer_rules(train, KINDS, timestamp="ts")
    assert check(rules, train) == []
    age = rules.columns["age"]
    assert (age.dtype, age.min, age.max) == ("int", 14.0, 93.0)  # 18..89 widened by 5% of the range
    assert rules.columns["country"].allowed == ["de", "fr", "it"]
    assert rules.columns["income"].max_null_rate == pytest.approx(train["income"].isna().mean() + 0.01)
    assert rules.volume is not None and rules.volume.min_per_hour > 0


def test_each_broken_rule_is_one_violation_with_counts_and_sample_event_ids():
    rules = infer_rules(_train(), KINDS)
    batch = pa.table(
        {
            "event_id": ["a", "b", "c", "d", "e", "f"],
            "age": pa.array([30, 150, 40, -3, 50, 60]),
            "income": pa.array([1e4, None, None, None, None, 2e4]),
            "country": ["fr", "es", "es", "de", None, "xx"],
            "note": ["ok", "ok", "ok", "ok", "ok", "ok"],
        }
    )
    found = {(v.column, v.rule): v for v in check(rules, batch)}
    assert set(found) == {
        ("age", "range"),
        ("income", "null_rate"),
        ("country", "null_rate"),
        ("country", "category"),
    }
    age, income, country = (
        found[("age", "range")],
        found[("income", "null_rate")],
        found[("country", "category")],
    )
    assert (age.count, age.sample_event_ids) == (2, ["b", "d"])
    assert age.details == {"min_seen": -3.0, "max_seen": 150.0}
    assert (income.count, income.total, income.sample_event_ids) == (4, 6, ["b", "c", "d", "e"])
    assert country.sample_rows == [1, 2, 5] and country.details["unexpected"][0] == ("es", 2)
    assert "not among its 3 known categories" in country.message


def test_nan_type_and_missing_columns_are_reported():
    rules = infer_rules(pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}))
    assert rules.columns["x"].kind == "numeric" and not rules.columns["x"].allow_nan
    batch = pd.DataFrame({"x": [1.5, np.inf], "event_id": ["p", "q"]})
    found = {(v.column, v.rule): v for v in check(rules, batch)}
    assert found[("x", "nan")].sample_event_ids == ["q"]
    assert ("y", "missing_column") in found
    wrong_type = check(rules, pd.DataFrame({"x": ["one", "two"], "y": ["a", "b"]}))
    assert [(v.column, v.rule) for v in wrong_type] == [("x", "type")]


def test_hourly_volume_outside_the_trained_range_is_flagged():
    train = _train(4000)
    rules = infer_rules(train, KINDS, timestamp="ts")
    start = int(train["ts"].min())
    burst = pd.concat([train.iloc[:50]] * 40, ignore_index=True)
    burst["ts"] = start + 3600 + np.arange(len(burst)) % 3600  # 2000 rows in one hour
    found = [v for v in check(rules, burst) if v.rule.startswith("volume")]
    assert [v.rule for v in found] == ["volume_high"] and found[0].details["hours"][0][1] == 2000


def test_rules_are_plain_json_that_people_can_edit():
    rules = infer_rules(_train(), KINDS, timestamp="ts")
    data = json.loads(rules.to_json())
    data["columns"]["country"]["allowed"].append("es")
    edited = QualityRules.from_json(json.dumps(data))
    assert edited != rules and QualityRules.from_json(rules.to_json()) == rules
    batch = pd.DataFrame({"age": [30], "income": [1.0], "country": ["es"], "note": ["ok"]})
    assert check(edited, batch) == []
    with pytest.raises(ValidationError, match="newer than"):
        QualityRules.from_dict({**data, "version": 99})
    with pytest.raises(ValidationError, match="Unknown column kinds"):
        QualityRules.from_dict({"columns": {"x": {"kind": "weird"}}})


def test_checking_a_large_batch_is_fast_enough_to_run_per_bucket():
    import time

    train = _train(5000)
    rules = infer_rules(train, KINDS, timestamp="ts")
    big = pd.concat([train] * 20, ignore_index=True)  # 100k rows
    t0 = time.process_time()
    check(rules, big)
    assert time.process_time() - t0 < 2.0

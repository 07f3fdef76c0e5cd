"""The report holds every eval set and slice, round-trips through JSON, and renders offline."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from flywheel.errors import ValidationError
from flywheel.evaluate import (
    EvalSet,
    EvaluationReport,
    GatePolicy,
    InvarianceTest,
    build_report,
    gate,
    render_html,
)
from flywheel.schema import ModelSpec
from flywheel.train import TrainingData, get_trainer
from tests.evaluate.helpers import SPEC, model_with_accuracy, region_data


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    frame, y = region_data()
    labels = np.where(y == 1, "yes", "no")
    golden = EvalSet(frame.iloc[:100], labels[:100])
    return build_report(
        SPEC,
        model_with_accuracy(y, frame, {"north": 0.9, "south": 0.8}, seed=2),
        {"holdout": EvalSet(frame, labels), "golden": golden},
        champion=model_with_accuracy(y, frame, {"north": 0.8, "south": 0.9}, seed=1),
        baseline=model_with_accuracy(y, frame, {"north": 0.5, "south": 0.5}, seed=3),
        labels={"candidate": "v3", "champion": "v2"},
        expectations=[InvarianceTest(name="x-ignored", feature="x", values=[0.0, 1.0])],
        n_boot=200,
    )


def test_report_covers_eval_sets_slices_and_roles(report: EvaluationReport) -> None:
    assert [e.name for e in report.eval_sets] == ["holdout", "golden"]
    holdout = report.eval_set("holdout")
    assert [s.name for s in holdout.slices] == ["region=north", "region=south"]
    assert [s.n for s in holdout.slices] == [800, 200]
    assert report.eval_set("golden").slices[0].n == 100 and len(report.eval_set("golden").slices) == 1
    assert report.models == {"candidate": "v3", "champion": "v2", "baseline": "baseline"}
    south = holdout.slices[1]
    assert south.models["candidate"].metrics["accuracy"].value == pytest.approx(0.8)
    assert south.deltas["champion"]["accuracy"].value == pytest.approx(-0.1)
    ci = south.deltas["champion"]["accuracy"]
    assert ci.lo < ci.value < ci.hi < 0
    cand = holdout.overall.models["candidate"]
    assert sum(map(sum, cand.confusion)) == 1000
    assert set(cand.per_class) == {"no", "yes"} and cand.calibration
    assert [r.passed for r in report.expectations["candidate"]] == [True]


def test_report_json_round_trip_is_lossless(report: EvaluationReport) -> None:
    text = report.to_json()
    again = EvaluationReport.from_json(text)
    assert again == report
    assert again.to_json() == text


def test_html_is_standalone_with_plotly_inlined(report: EvaluationReport) -> None:
    result = gate(report, GatePolicy(max_regression=0.05))
    page = render_html(report, result)
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, flags=re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']https?:", page, flags=re.I)
    assert "plotly.js v" in page[:6_000_000]
    assert "Gate: refused" in page and "slice &#39;region=south&#39;" in page
    assert page.count('data-fig="confusion_') == 4  # candidate and champion, for both eval sets
    assert "v3" in page and "v2" in page
    # the figures' JSON cannot close its script element early
    figures = page.split('<script type="application/json" id="figures">')[1].split("</script>")[0]
    assert "region=south" in figures


def test_end_to_end_with_trained_models_regression() -> None:
    spec = ModelSpec(
        name="price",
        task="regression",
        features=[{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}],
        slices=["c", "x > 0"],
    )
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["a", "b"], 400)})
    y = 2 * frame["x"].to_numpy() + (frame["c"] == "a") + rng.normal(scale=0.1, size=400)
    train, hold = slice(0, 300), slice(300, 400)
    data = TrainingData(frame.iloc[train], y[train], spec)
    cand = get_trainer("tabular-lgbm").fit(data, {"n_estimators": 50})
    base = get_trainer("baseline").fit(data)
    report = build_report(spec, cand, {"holdout": (frame.iloc[hold], y[hold])}, baseline=base, n_boot=100)
    assert report.primary_metric == "rmse" and report.metrics == ["rmse", "mae", "r2"]
    assert [s.name for s in report.eval_set("holdout").slices] == ["c=a", "c=b", "x > 0"]
    assert report.eval_set("holdout").overall.deltas["baseline"]["rmse"].value < -1.0
    result = gate(report, GatePolicy())
    assert result.passed
    assert "<!doctype html>" in render_html(report, result, plotly_js="")


def test_report_refuses_missing_eval_sets_and_bad_shapes() -> None:
    frame, y = region_data(10, 10)
    with pytest.raises(ValidationError, match="at least one eval set"):
        build_report(SPEC, object(), {})

    class Wrong:
        def predict_proba(self, frame):
            return np.ones((len(frame), 3)) / 3

    with pytest.raises(ValidationError, match=r"expected \(20, 2\)"):
        build_report(SPEC, Wrong(), {"holdout": EvalSet(frame, np.where(y == 1, "yes", "no"))}, n_boot=5)

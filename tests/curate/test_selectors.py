"""Each selector's scores against an exact oracle, and the behaviour its name promises."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, spearmanr
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.neighbors import NearestNeighbors

from flywheel.curate import CandidateBatch, make_selector
from flywheel.curate.diversity import Diversity, kcenter_greedy
from flywheel.curate.uncertainty import uncertainty_scores
from flywheel.errors import ValidationError


def _ids(n: int) -> list[str]:
    return [f"e{i}" for i in range(n)]


def _top(scores: np.ndarray, m: int) -> np.ndarray:
    return np.argsort(-scores, kind="stable")[:m]


@pytest.fixture
def probs() -> np.ndarray:
    return np.random.default_rng(1).dirichlet([0.5, 0.5, 0.5, 0.5], size=50)


# --- uncertainty -------------------------------------------------------------------------


def test_margin_is_one_minus_the_gap_between_the_two_top_classes(probs: np.ndarray) -> None:
    top2 = np.sort(probs, axis=1)[:, -2:]
    np.testing.assert_allclose(uncertainty_scores(probs, "margin"), 1 - (top2[:, 1] - top2[:, 0]))


def test_least_confidence_is_one_minus_the_top_probability(probs: np.ndarray) -> None:
    np.testing.assert_allclose(uncertainty_scores(probs, "least_confidence"), 1 - probs.max(axis=1))


def test_entropy_matches_scipy_normalised_by_log_k(probs: np.ndarray) -> None:
    expected = entropy(probs, axis=1) / np.log(4)
    np.testing.assert_allclose(uncertainty_scores(probs, "entropy"), expected)


def test_uncertainty_signal_names_the_margin_and_the_two_classes() -> None:
    batch = CandidateBatch(["a"], probabilities=[[0.51, 0.48, 0.01]], class_names=["cat", "dog", "fox"])
    sel = make_selector("uncertainty")
    assert sel.explain(batch, [0], sel.score(batch)) == ["margin 0.03 (cat 0.51 vs dog 0.48)"]


def test_uncertainty_rejects_an_unknown_measure() -> None:
    with pytest.raises(ValidationError, match="'measure' parameter of Uncertainty must be one of"):
        make_selector("uncertainty", measure="vibes")


# --- stratified --------------------------------------------------------------------------


def test_equal_stratification_takes_one_per_stratum_before_a_second_from_any() -> None:
    rng = np.random.default_rng(0)
    country = rng.choice(["FR", "DE", "US", "JP"], p=[0.85, 0.05, 0.05, 0.05], size=400)
    batch = CandidateBatch(_ids(400), slices={"country": country})
    scores = make_selector("stratified", by="slice:country").score(batch)
    for m in (4, 8, 12):
        values, counts = np.unique(country[_top(scores, m)], return_counts=True)
        assert sorted(values) == ["DE", "FR", "JP", "US"] and set(counts) == {m // 4}


def test_proportional_stratification_follows_stratum_sizes() -> None:
    country = np.array(["FR"] * 300 + ["DE"] * 100)
    batch = CandidateBatch(_ids(400), slices={"country": country})
    scores = make_selector("stratified", by="slice:country", allocation="proportional").score(batch)
    picked = country[_top(scores, 40)]
    assert abs((picked == "FR").sum() - 30) <= 1


def test_stratified_by_time_spreads_over_buckets() -> None:
    ts = np.r_[np.zeros(90), np.full(10, 86400.0 * 3)]
    batch = CandidateBatch(_ids(100), timestamps=ts)
    scores = make_selector("stratified", by="time").score(batch)
    assert set(ts[_top(scores, 2)]) == {0.0, 86400.0 * 3}


def test_stratified_within_uncertainty_takes_the_most_uncertain_of_each_stratum() -> None:
    p = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.45, 0.55]])
    batch = CandidateBatch(_ids(4), probabilities=p, predicted=[0, 0, 1, 1])
    scores = make_selector("stratified", by="predicted", within="uncertainty").score(batch)
    assert sorted(_top(scores, 2).tolist()) == [1, 3]


def test_stratified_rejects_a_bad_by() -> None:
    with pytest.raises(ValidationError, match="'by' parameter of Stratified"):
        make_selector("stratified", by="country")


# --- feedback ----------------------------------------------------------------------------


def test_feedback_ranks_flagged_newest_first_and_never_picks_the_rest() -> None:
    batch = CandidateBatch(_ids(4), flagged=[True, False, True, True], timestamps=[5.0, 9.0, 1.0, 7.0])
    scores = make_selector("feedback").score(batch)
    assert np.isneginf(scores[1])
    assert _top(scores, 3).tolist() == [3, 0, 2]


def test_feedback_signal_names_the_kind_of_feedback() -> None:
    batch = CandidateBatch(_ids(2), flagged=[True, True], feedback=["thumbs_down", None])
    sel = make_selector("feedback")
    assert sel.explain(batch, [0, 1], sel.score(batch)) == ["thumbs down by user", "flagged by user"]


def test_feedback_is_not_applicable_without_flags() -> None:
    assert not make_selector("feedback").applicable(CandidateBatch(_ids(3), flagged=[False] * 3))


# --- disagreement ------------------------------------------------------------------------


def test_js_disagreement_matches_scipy_for_two_models(probs: np.ndarray) -> None:
    other = np.random.default_rng(2).dirichlet([1, 1, 1, 1], size=50)
    batch = CandidateBatch(_ids(50), probabilities=probs, challenger_probabilities={"v2": other})
    expected = np.array([jensenshannon(p, q, base=2) ** 2 for p, q in zip(probs, other, strict=True)])
    np.testing.assert_allclose(make_selector("disagreement", measure="js").score(batch), expected, atol=1e-12)


def test_kl_disagreement_matches_scipy(probs: np.ndarray) -> None:
    other = np.random.default_rng(2).dirichlet([1, 1, 1, 1], size=50)
    batch = CandidateBatch(_ids(50), probabilities=probs, challenger_probabilities={"v2": other})
    expected = entropy(probs, other, axis=1)
    np.testing.assert_allclose(make_selector("disagreement", measure="kl").score(batch), expected, rtol=1e-6)


def test_vote_disagreement_ranks_class_flips_above_agreement() -> None:
    champion = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3]])
    challenger = np.array([[0.8, 0.2], [0.4, 0.6], [0.1, 0.9]])
    batch = CandidateBatch(_ids(3), probabilities=champion, challenger_probabilities={"v2": challenger})
    scores = make_selector("disagreement").score(batch)
    assert scores[0] < 0.01 and scores[1] > 0.99 and scores[2] > scores[1]


def test_disagreement_with_an_unknown_challenger_is_not_applicable(probs: np.ndarray) -> None:
    batch = CandidateBatch(_ids(50), probabilities=probs, challenger_probabilities={"v2": probs})
    assert not make_selector("disagreement", challengers=["shadow"]).applicable(batch)


def test_challenger_with_other_classes_is_refused(probs: np.ndarray) -> None:
    with pytest.raises(ValidationError, match="has 3 classes"):
        CandidateBatch(_ids(50), probabilities=probs, challenger_probabilities={"v2": probs[:, :3]})


# --- novelty -----------------------------------------------------------------------------


def test_novelty_is_knn_distance_over_the_reference_typical_distance() -> None:
    rng = np.random.default_rng(0)
    ref, X = rng.normal(size=(300, 4)), rng.normal(size=(40, 4)) * 2
    scores = make_selector("novelty", n_neighbors=3).score(CandidateBatch(_ids(40), X=X, reference_X=ref))
    nn = NearestNeighbors(n_neighbors=4).fit(ref)
    d, _ = nn.kneighbors(X, n_neighbors=3)
    d_ref, _ = nn.kneighbors(ref, n_neighbors=4)
    np.testing.assert_allclose(scores, d.mean(axis=1) / np.median(d_ref[:, 1:].mean(axis=1)))


def test_random_projection_novelty_keeps_the_exact_ranking() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(500, 256))
    X = rng.normal(size=(100, 256)) * np.linspace(0.5, 3, 100)[:, None]
    batch = CandidateBatch(_ids(100), X=X, reference_X=ref)
    exact = make_selector("novelty").score(batch)
    approx = make_selector("novelty", method="random_projection", n_components=32).score(batch)
    assert spearmanr(exact, approx).statistic > 0.9


# --- diversity, k-means centres, k-centre ------------------------------------------------


def _blobs(n_per: int = 40, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, 6)) * 20
    X = np.vstack([c + rng.normal(size=(n_per, 6)) for c in centres])
    return X, np.repeat(np.arange(k), n_per)


def test_diversity_spreads_picks_over_regions_where_plain_margin_piles_into_one() -> None:
    X, blob = _blobs()
    # Blob 0 is the most uncertain; every blob is somewhat uncertain.
    gap = np.where(blob == 0, 0.01, 0.2) + np.random.default_rng(1).random(len(X)) * 0.01
    p = np.c_[(1 + gap) / 2, (1 - gap) / 2]
    batch = CandidateBatch(_ids(len(X)), X=X, probabilities=p)
    margin_top = _top(make_selector("uncertainty").score(batch), 5)
    assert set(blob[margin_top]) == {0}
    diverse_top = _top(Diversity(prefilter=40).score(batch, budget=5), 5)
    assert set(blob[diverse_top]) == {0, 1, 2, 3, 4}


def test_diversity_only_picks_from_the_prefiltered_short_list() -> None:
    X, _ = _blobs()
    p = np.random.default_rng(3).dirichlet([1, 1], size=len(X))
    batch = CandidateBatch(_ids(len(X)), X=X, probabilities=p)
    scores = Diversity(prefilter=2).score(batch, budget=5)
    shortlist = set(_top(make_selector("uncertainty").score(batch), 10).tolist())
    assert set(np.flatnonzero(scores > 2).tolist()) <= shortlist


def test_kmeans_centres_cover_every_cluster_on_a_cold_start() -> None:
    X, blob = _blobs()
    scores = make_selector("kmeans_centres").score(CandidateBatch(_ids(len(X)), X=X), budget=5)
    assert set(blob[_top(scores, 5)]) == {0, 1, 2, 3, 4}


def test_kcenter_greedy_first_takes_the_point_farthest_from_the_labelled_set() -> None:
    X = np.array([[0.0], [1.0], [5.0], [10.0]])
    assert kcenter_greedy(X, 2, centres=np.array([[0.0]])).tolist() == [3, 2]


# --- similarity, drifting slices, label errors -------------------------------------------


def test_similarity_is_the_cosine_to_the_closest_exemplar() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8))
    outside = rng.normal(size=8)
    batch = CandidateBatch(_ids(30), X=X, exemplars={"old": outside})
    scores = make_selector("similarity", exemplar_ids=["e0", "old"]).score(batch)
    expected = cosine_similarity(X, np.vstack([X[0], outside])).max(axis=1)
    assert np.isneginf(scores[0])
    np.testing.assert_allclose(scores[1:], expected[1:])


def test_similarity_with_no_known_exemplar_says_so() -> None:
    batch = CandidateBatch(_ids(3), X=np.eye(3))
    with pytest.raises(ValidationError, match="None of the exemplar events"):
        make_selector("similarity", exemplar_ids=["ghost"]).score(batch)


def test_drifting_slice_scores_only_members_of_drifting_slices() -> None:
    batch = CandidateBatch(
        _ids(4),
        slices={"country": ["FR", "DE", "FR", "US"], "device": ["ios", "ios", "web", "web"]},
        slice_drift={"country=FR": 0.2, "device=web": 0.5},
    )
    sel = make_selector("drifting_slice")
    scores = sel.score(batch)
    assert np.isneginf(scores[1])
    assert scores[2] == pytest.approx(0.5, abs=1e-3) and scores[0] == pytest.approx(0.2, abs=1e-3)
    assert sel.explain(batch, [2, 0], scores) == [
        "slice device=web drifting (0.50)",
        "slice country=FR drifting (0.20)",
    ]


def test_label_error_selector_flags_only_labelled_rows() -> None:
    p = np.array([[0.95, 0.05]] * 6 + [[0.05, 0.95]] * 6)
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, -1])
    batch = CandidateBatch(_ids(12), probabilities=p, labels=labels, class_names=["ham", "spam"])
    sel = make_selector("label_errors")
    scores = sel.score(batch)
    assert np.flatnonzero(np.isfinite(scores)).tolist() == [5]
    assert sel.explain(batch, [5], scores) == ["labelled spam (0.05), model says ham (0.95)"]


# --- the batch ---------------------------------------------------------------------------


def test_batch_names_the_field_with_the_wrong_length() -> None:
    with pytest.raises(ValidationError, match="CandidateBatch.flagged must have length 3"):
        CandidateBatch(_ids(3), flagged=[True])


def test_batch_refuses_duplicate_event_ids_and_nan_features() -> None:
    with pytest.raises(ValidationError, match="unique"):
        CandidateBatch(["a", "a"])
    with pytest.raises(ValidationError, match="NaN"):
        CandidateBatch(["a"], X=[[np.nan]])


def test_batch_reads_datetime64_timestamps_as_epoch_seconds() -> None:
    batch = CandidateBatch(["a"], timestamps=np.array(["1970-01-02T00:00:00"], dtype="datetime64[s]"))
    assert batch.timestamps.tolist() == [86400.0]


def test_take_slices_rows_and_keeps_batch_wide_fields() -> None:
    batch = CandidateBatch(
        _ids(3), X=np.eye(3), slices={"c": ["a", "b", "c"]}, reference_X=np.eye(3), slice_drift={"c=a": 1.0}
    )
    sub = batch.take([2, 0])
    assert sub.event_ids.tolist() == ["e2", "e0"] and sub.slices["c"].tolist() == ["c", "a"]
    assert sub.reference_X.shape == (3, 3) and sub.slice_drift == {"c=a": 1.0}

"""Text and embedding profiles: lengths and token counts, projected components, and their laws."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.errors import ValidationError
from flywheel.profiles import EmbeddingProfile, TextProfile

texts = st.lists(st.one_of(st.none(), st.text(alphabet="ab é\t\n", max_size=40)), max_size=40)


@settings(max_examples=50, deadline=None)
@given(a=texts, b=texts)
def test_text_profile_counts_characters_and_tokens_like_python(a, b):
    merged = TextProfile().update(a).merge(TextProfile().update(b))
    present = [t for t in a + b if t is not None]
    assert (merged.count, merged.nulls) == (len(a) + len(b), len(a) + len(b) - len(present))
    assert merged.chars.finite == len(present)
    if present:
        assert merged.chars.mean == pytest.approx(np.mean([len(t) for t in present]))
        assert merged.tokens.max == max(len(t.split()) for t in present)
    again = TextProfile.from_bytes(merged.to_bytes())
    assert again.to_bytes() == merged.to_bytes()
    assert TextProfile().merge(merged).chars.summary() == pytest.approx(merged.chars.summary(), nan_ok=True)


def test_embedding_components_are_the_projected_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    proj = rng.normal(size=(8, 3))
    p = EmbeddingProfile(proj).update(x[:200]).merge(EmbeddingProfile(proj).update(x[200:]))
    z = x @ proj
    assert [c.mean for c in p.components] == pytest.approx(z.mean(axis=0).tolist())
    assert [c.std for c in p.components] == pytest.approx(z.std(axis=0).tolist())
    assert p.norm.max == pytest.approx(np.linalg.norm(x, axis=1).max())
    assert p.count == 500


def test_embedding_profiles_with_different_projections_refuse_to_merge():
    a = EmbeddingProfile(np.eye(4)[:, :2]).update(np.ones((3, 4)))
    b = EmbeddingProfile(np.eye(4)[:, 1:3]).update(np.ones((3, 4)))
    with pytest.raises(ValidationError, match="different projection"):
        a.merge(b)


def test_a_loaded_embedding_profile_merges_without_the_matrix_but_updates_only_with_it():
    proj = np.eye(4)[:, :2]
    p = EmbeddingProfile(proj).update([[1, 2, 3, 4], None])
    loaded = EmbeddingProfile.from_bytes(p.to_bytes())
    assert loaded.merge(p).count == 4 and loaded.nulls == 1
    with pytest.raises(ValidationError, match="without its projection"):
        loaded.update(np.ones((1, 4)))
    EmbeddingProfile.from_bytes(p.to_bytes(), projection=proj).update(np.ones((1, 4)))
    with pytest.raises(ValidationError, match="not the one"):
        EmbeddingProfile.from_bytes(p.to_bytes(), projection=np.eye(4)[:, 2:])


def test_images_are_flattened_per_row():
    imgs = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    p = EmbeddingProfile(np.ones((9, 1)), kind="image").update(imgs)
    assert p.kind == "image" and p.components[0].mean == pytest.approx(imgs.reshape(2, -1).sum(axis=1).mean())
    assert EmbeddingProfile.from_bytes(p.to_bytes()).kind == "image"


def test_wrong_vector_length_and_bad_projection_are_refused():
    with pytest.raises(ValidationError, match="vectors of length 4"):
        EmbeddingProfile(np.eye(4)).update(np.ones((2, 5)))
    with pytest.raises(ValidationError, match="'projection' parameter of EmbeddingProfile"):
        EmbeddingProfile(np.ones(4))

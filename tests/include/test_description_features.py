"""Bedrock description embeddings as the FM's item side features (`desc_*` components)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from include.training import data
from include.training.description_features import description_components
from include.training.models import fm


def catalogue(n_items: int = 40, dims: int = 32, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n_items, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return pd.DataFrame({"item_id": [f"i{k}" for k in range(n_items)], "embedding": list(vectors), "month": "2011-10"})


def test_components_are_standardised_deterministic_and_few():
    frame = catalogue()
    first, again = description_components(frame, n=8), description_components(frame.sample(frac=1, random_state=1), n=8)
    assert list(first.columns) == ["item_id", *(f"desc_{i}" for i in range(8))]
    assert np.allclose(first.drop(columns="item_id").std(axis=0, ddof=0), 1, atol=1e-4)
    assert np.allclose(first.drop(columns="item_id").mean(axis=0), 0, atol=1e-4)
    # the same catalogue in another order gives the same columns (signs fixed)
    assert np.allclose(first.set_index("item_id").sort_index(), again.set_index("item_id").sort_index(), atol=1e-4)


def test_the_fm_reads_the_staged_embeddings_as_item_features(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{i}", 1_300_000_000 + t) for t, (u, i) in enumerate(rng.integers(0, 30, (600, 2)))]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    without = data.build(frame, None, str(tmp_path))
    catalogue().to_parquet(tmp_path / data.DESCRIPTION_EMBEDDINGS)
    with_text = data.build(frame, None, str(tmp_path))
    described = [c for c in with_text.item_features.columns if c.startswith("desc_")]
    assert without.item_features is None and len(described) == 16
    hp = {"factors": 8, "epochs": 1, "batch_size": 128}
    plain, fitted = fm.train(without, hp), fm.train(with_text, hp)
    assert plain.info["description_features"] == 0 and fitted.info["description_features"] == 16
    assert fitted.info["item_features"] == plain.info["item_features"] + 16

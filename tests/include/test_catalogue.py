"""include/catalogue: Titan V2 request/answer, the sha256 cache, and cold-start neighbours."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from include.catalogue import embeddings, neighbours


def test_request_body_is_titans_and_refuses_what_bedrock_would():
    assert json.loads(embeddings.request_body("RED MUG", 512)) == {
        "inputText": "RED MUG",
        "dimensions": 512,
        "normalize": True,
    }
    with pytest.raises(ValueError, match=r"dimensions must be one of \(256, 512, 1024\)"):
        embeddings.request_body("RED MUG", 300)
    with pytest.raises(ValueError, match="empty description"):
        embeddings.request_body("  ", 256)


def test_the_answer_is_checked_against_the_size_asked_for():
    vector, tokens = embeddings.parse_answer(json.dumps({"embedding": [0.6, 0.8], "inputTextTokenCount": 3}), 2)
    assert vector.dtype == np.float32 and tokens == 3
    with pytest.raises(ValueError, match="answered 2 dimensions, asked for 256"):
        embeddings.parse_answer(json.dumps({"embedding": [0.6, 0.8], "inputTextTokenCount": 3}), 256)


def test_descriptions_are_trimmed_hashed_and_empty_ones_dropped():
    items = pd.DataFrame(
        {"item_id": ["A", "B", "C", "A"], "description": [" RED MUG ", None, "  ", "RED MUG NEW"], "x": 1}
    )
    texts = embeddings.descriptions(items)
    assert list(texts["item_id"]) == ["A"] and list(texts["description"]) == ["RED MUG NEW"]  # newest wins
    assert texts["sha256"][0] == embeddings.text_hash("RED MUG NEW") and len(texts["sha256"][0]) == 64


def test_only_descriptions_missing_from_the_cache_are_embedded():
    texts = embeddings.descriptions(
        pd.DataFrame({"item_id": ["A", "B", "C"], "description": ["RED MUG", "RED MUG", "BLUE MUG"]})
    )
    cache = embeddings.empty_cache()
    todo = embeddings.missing(texts, cache)
    assert sorted(todo["description"]) == ["BLUE MUG", "RED MUG"]  # one call per distinct text
    cache = embeddings.merge_cache(
        cache, [{"sha256": h, "embedding": [1.0, 0.0], "input_tokens": 2} for h in todo["sha256"]]
    )
    assert embeddings.missing(texts, cache).empty
    again = embeddings.merge_cache(cache, [{"sha256": todo["sha256"][0], "embedding": [0.0, 1.0], "input_tokens": 2}])
    assert len(again) == 2 and again.equals(cache)  # the first answer kept: a hash is embedded once
    stored = embeddings.item_embeddings(texts, cache, "2011-10", 2)
    assert list(stored["item_id"]) == ["A", "B", "C"]
    assert set(stored["model_id"]) == {"amazon.titan-embed-text-v2:0"} and set(stored["month"]) == {"2011-10"}


def test_an_item_without_a_cached_embedding_is_an_error():
    texts = embeddings.descriptions(pd.DataFrame({"item_id": ["A"], "description": ["RED MUG"]}))
    with pytest.raises(ValueError, match=r"1 descriptions have no embedding in the cache, e\.g\. 'RED MUG'"):
        embeddings.item_embeddings(texts, embeddings.empty_cache(), "2011-10", 2)


def test_similar_items_are_the_nearest_established_ones_best_first():
    known = np.array([[1, 0], [0, 1], [0.7071, 0.7071]], dtype=np.float32)
    new = np.array([[0.96, 0.28]], dtype=np.float32)
    similar = neighbours.similar_items(np.array(["N"]), new, np.array(["X", "Y", "XY"]), known, k=2)
    assert list(similar["similar_item_id"]) == ["X", "XY"] and list(similar["rank"]) == [1, 2]
    assert similar["score"].is_monotonic_decreasing
    assert neighbours.similar_items(np.array([]), None, np.array(["X"]), known, k=2).empty


def test_a_customer_profile_is_the_mean_of_what_they_bought():
    history = pd.DataFrame({"user_id": ["u", "u", "v", "w"], "item_id": ["X", "Y", "Y", "unknown"]})
    vectors = np.array([[1, 0], [0, 1]], dtype=np.float32)
    users, profiles = neighbours.user_profiles(history, pd.Index(["X", "Y"]), vectors)
    assert list(users) == ["u", "v"]  # w bought nothing with an embedding
    assert np.allclose(profiles, [[0.7071, 0.7071], [0, 1]], atol=1e-4)
    new = np.array([[1, 0], [0.6, 0.8]], dtype=np.float32)
    assert neighbours.recommend_new_items(profiles, new, 2).tolist() == [[1, 0], [1, 0]]

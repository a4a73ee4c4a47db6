"""Cold-start items: do description neighbours beat popularity for the customers who bought them?

    PYTHONPATH=.:plugins .venv/bin/python -m benchmarks.cold_start_items

The real months go through the preprocessing job; every item description is embedded through the
local stack's `bedrock-runtime` InvokeModel (Titan Text Embeddings V2's request and answer, 256
dimensions; WordLlama stands in for Titan locally, so these are WordLlama's figures). For each test
month, the new items are those first sold that month (in no earlier month since 2010-12); the
customers evaluated bought at least one of them and bought something before. Two uses, two tables:

1. Recommending the month's new items to a customer (ranked among all new items of the month):
   by description, the new items nearest the mean embedding of what the customer bought before;
   against popularity, the new items ranked by their buyers in the month itself (it knows the
   month's sales, which no cold-start system has: a generous baseline), and a random order.
   Then the realistic case: the shop knows the month's first week; popularity ranks the new items
   by their first-week buyers, and every ranking is judged on what customers bought afterwards.
2. A new item's similar items (for its page): its 10 nearest established items by description,
   against the 10 most popular established items; a hit when the buyer of the new item had bought
   one of them before.

3. As item features: the factorization machine (`include/training/models/fm.py`, 64 factors, 60
   epochs, as `benchmarks/training_models.py` runs it) trained on 2010-12..2011-09 with and without
   the description components (`desc_*`), scored on October 2011's known customers.

Metrics as `include/training/metrics.py` computes them (hit rate = share of customers with at least
one bought item in their top 10).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from devstack.datasets import online_retail_dir
from include.catalogue import embeddings, neighbours
from include.preprocessing import job as preprocessing
from include.training.metrics import ranking_metrics

MONTHS = ["2010-12", *(f"2011-{m:02d}" for m in range(1, 11))]
TESTS = ["2011-09", "2011-10"]
DIMENSIONS = 256
K = 10


def preprocess(root: Path) -> dict[str, Path]:
    files = {p.name[:7]: p for p in online_retail_dir().glob("*.csv.gz")}
    model = preprocessing.fit_files([(str(files[m]), m) for m in MONTHS[:3]], MONTHS[:3])
    for month in MONTHS:
        preprocessing.process_file(str(files[month]), month, model, str(root / month), month)
    return {m: root / m for m in MONTHS}


def embed_catalogue(items: pd.DataFrame) -> tuple[pd.DataFrame, int, float]:
    """Every distinct description through InvokeModel on a local stack: (item embeddings, calls, s)."""
    from localaws.server import LocalAwsStack

    texts = embeddings.descriptions(items)
    todo = embeddings.missing(texts, embeddings.empty_cache())
    started = time.monotonic()
    with LocalAwsStack(tls=False) as stack:
        client = stack.client("bedrock-runtime")  # the account root, as the stack serves it

        def one(text: str) -> dict:
            answer = client.invoke_model(
                modelId=embeddings.MODEL_ID,
                body=embeddings.request_body(text, DIMENSIONS),
                contentType="application/json",
                accept="application/json",
            )
            vector, tokens = embeddings.parse_answer(answer["body"].read(), DIMENSIONS)
            return {"embedding": vector.tolist(), "input_tokens": tokens}

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(one, todo["description"]))
    cache = embeddings.merge_cache(
        embeddings.empty_cache(), [{"sha256": h, **a} for h, a in zip(todo["sha256"], answers, strict=True)]
    )
    return embeddings.item_embeddings(texts, cache, MONTHS[-1], DIMENSIONS), len(todo), time.monotonic() - started


def with_hit_rate(pairs: list[tuple[list, set]]) -> dict:
    scored = ranking_metrics(pairs, max(1, len({i for r, _ in pairs for i in r})))
    hit_rate = float(np.mean([bool(set(r[:K]) & t) for r, t in pairs])) if pairs else 0.0
    return {
        "hit_rate_at_10": hit_rate,
        "ndcg_at_10": scored["ndcg_at_10"],
        "precision_at_10": scored["precision_at_10"],
        "mrr_at_25": scored["mrr_at_25"],
    }


def evaluate_month(month: str, interactions: pd.DataFrame, catalogue: pd.DataFrame, seed: int = 7) -> dict:
    history = interactions[interactions["month"] < month]
    current = interactions[interactions["month"] == month]
    new_ids = np.array(sorted(set(current["item_id"]) - set(history["item_id"])), dtype=object)
    vectors = catalogue.set_index("item_id")
    new_ids = np.array([i for i in new_ids if i in vectors.index], dtype=object)
    known_ids = np.array(sorted(set(history["item_id"]) & set(vectors.index)), dtype=object)
    new_matrix = embeddings.matrix(vectors.loc[new_ids].reset_index())
    known_matrix = embeddings.matrix(vectors.loc[known_ids].reset_index())
    known_index = pd.Index(known_ids)

    bought_new = current[current["item_id"].isin(set(new_ids))].drop_duplicates(["user_id", "item_id"])
    users, profiles = neighbours.user_profiles(history, known_index, known_matrix)
    truth = bought_new.groupby("user_id")["item_id"].apply(set)
    evaluated = [u for u in users if u in truth.index]
    position = pd.Index(users)

    # 1. the month's new items ranked for each customer who bought one
    ranked_by_text = neighbours.recommend_new_items(profiles[position.get_indexer(evaluated)], new_matrix, 25)
    buyers = bought_new.groupby("item_id")["user_id"].nunique().reindex(new_ids).fillna(0).to_numpy()
    by_popularity = list(new_ids[np.argsort(-buyers, kind="stable")][:25])
    rng = np.random.default_rng(seed)
    # the realistic case: popularity from the month's first 7 days, judged on the rest of the month
    cutoff = current["timestamp"].min() + 7 * 86_400
    late_new = current[(current["timestamp"] >= cutoff) & current["item_id"].isin(set(new_ids))]
    late_truth = late_new.drop_duplicates(["user_id", "item_id"]).groupby("user_id")["item_id"].apply(set)
    early_buyers = (
        current[(current["timestamp"] < cutoff) & current["item_id"].isin(set(new_ids))]
        .groupby("item_id")["user_id"]
        .nunique()
        .reindex(new_ids)
        .fillna(0)
        .to_numpy()
    )
    by_first_week = list(new_ids[np.argsort(-early_buyers, kind="stable")][:25])
    late_users = [u for u in users if u in late_truth.index]
    ranked_late = neighbours.recommend_new_items(profiles[position.get_indexer(late_users)], new_matrix, 25)
    after_first_week = {
        "description neighbours": [
            (list(new_ids[row]), late_truth[u]) for u, row in zip(late_users, ranked_late, strict=True)
        ],
        "popularity (first week's sales)": [(by_first_week, late_truth[u]) for u in late_users],
        "random": [(list(rng.permutation(new_ids)[:25]), late_truth[u]) for u in late_users],
    }
    recommend = {
        "description neighbours": [
            (list(new_ids[row]), truth[u]) for u, row in zip(evaluated, ranked_by_text, strict=True)
        ],
        "popularity (month's own sales)": [(by_popularity, truth[u]) for u in evaluated],
        "random": [(list(rng.permutation(new_ids)[:25]), truth[u]) for u in evaluated],
    }

    # 2. each new item's similar items, judged by what its buyers had bought before
    similar = neighbours.similar_items(new_ids, new_matrix, known_ids, known_matrix, k=K)
    neighbours_of = similar.groupby("item_id")["similar_item_id"].apply(list)
    item_buyers = history.drop_duplicates(["user_id", "item_id"]).groupby("item_id")["user_id"].nunique()
    popular = list(item_buyers.sort_values(ascending=False, kind="stable").index[:K])
    before = history.groupby("user_id")["item_id"].apply(set)
    pairs = [(u, i) for u, i in bought_new[["user_id", "item_id"]].itertuples(index=False) if u in before.index]
    similar_items = {
        "description neighbours": [(neighbours_of[i], before[u]) for u, i in pairs],
        "popularity (established)": [(popular, before[u]) for u, i in pairs],
    }
    return {
        "month": month,
        "new_items": len(new_ids),
        "established_items": len(known_ids),
        "customers": len(evaluated),
        "customers_after_first_week": len(late_users),
        "item_buyer_pairs": len(pairs),
        "recommend_new_items": {name: with_hit_rate(p) for name, p in recommend.items()},
        "after_first_week": {name: with_hit_rate(p) for name, p in after_first_week.items()},
        "similar_items": {name: with_hit_rate(p) for name, p in similar_items.items()},
    }


def fm_with_descriptions(dirs: dict[str, Path], catalogue: pd.DataFrame, root: Path) -> dict[str, dict]:
    """The FM with and without description features, same split and seed: {variant: metrics}."""
    import shutil

    from include.training import data, metrics
    from include.training.models import trainer

    train_months, test_month = [m for m in MONTHS if m < "2011-10"], "2011-10"
    train_frame = pd.concat([pd.read_parquet(dirs[m] / "interactions.parquet") for m in train_months])
    test_frame = pd.read_parquet(dirs[test_month] / "interactions.parquet")
    results = {}
    for variant, with_text in (("FM, side features", False), ("FM, side features + descriptions", True)):
        features = root / ("features-text" if with_text else "features")
        features.mkdir(exist_ok=True)
        for name in ("user_features.parquet", "item_features.parquet"):
            shutil.copy(dirs[train_months[-1]] / name, features / name)
        if with_text:
            catalogue.to_parquet(features / data.DESCRIPTION_EMBEDDINGS)
        dataset = data.build(train_frame, test_frame, str(features))
        started = time.monotonic()
        fitted = trainer("fm")(dataset, {"model": "fm", "factors": 64, "epochs": 60})
        scored = metrics.evaluate(fitted.recommend, dataset.test, len(dataset.items))
        results[variant] = {**scored, "train_seconds": round(time.monotonic() - started, 1)}
    return results


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per InvokeModel otherwise
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="bench-cold-start-"))
    dirs = preprocess(root)
    interactions = pd.concat(
        [
            pd.read_parquet(d / "interactions.parquet", columns=["user_id", "item_id", "timestamp"]).assign(month=m)
            for m, d in dirs.items()
        ],
        ignore_index=True,
    )
    items = pd.concat([pd.read_parquet(d / "item_features.parquet") for d in dirs.values()], ignore_index=True)
    catalogue, calls, embed_s = embed_catalogue(items)
    print(
        f"{len(catalogue):,} items, {calls:,} distinct descriptions embedded by InvokeModel ({embeddings.MODEL_ID} "
        f"request/answer, {DIMENSIONS} dims, local stand-in WordLlama) in {embed_s:.1f} s"
    )
    results = [evaluate_month(m, interactions, catalogue) for m in TESTS]
    for result in results:
        print(
            f"\n{result['month']}: {result['new_items']:,} new items (first sold this month), "
            f"{result['established_items']:,} established; {result['customers']:,} customers with history bought "
            f"a new item ({result['item_buyer_pairs']:,} customer-item pairs)"
        )
        for table, title in (
            ("after_first_week", f"after the first week ({result['customers_after_first_week']:,} customers)"),
            ("recommend_new_items", "new items recommended to their buyers"),
            ("similar_items", "a new item's 10 similar items vs its buyer's past purchases"),
        ):
            print(f"  {title}")
            print("  | ranking | hit rate@10 | NDCG@10 | precision@10 | MRR@25 |")
            print("  |---|---|---|---|---|")
            for name, m in result[table].items():
                print(
                    f"  | {name} | {m['hit_rate_at_10']:.4f} | {m['ndcg_at_10']:.4f} | "
                    f"{m['precision_at_10']:.4f} | {m['mrr_at_25']:.4f} |"
                )
    fm_results = fm_with_descriptions(dirs, catalogue, root)
    print("\nas item features: FM trained on 2010-12..2011-09, scored on 2011-10's known customers")
    print("| model | precision@10 | NDCG@10 | MRR@25 | coverage | train s |")
    print("|---|---|---|---|---|---|")
    for variant, m in fm_results.items():
        print(
            f"| {variant} | {m['precision_at_10']:.4f} | {m['ndcg_at_10']:.4f} | {m['mrr_at_25']:.4f} | "
            f"{m['coverage']:.4f} | {m['train_seconds']} |"
        )
    for result in results:
        text = result["recommend_new_items"]["description neighbours"]["ndcg_at_10"]
        pop = result["recommend_new_items"]["popularity (month's own sales)"]["ndcg_at_10"]
        late = result["after_first_week"]
        late_ratio = (
            late["description neighbours"]["ndcg_at_10"] / late["popularity (first week's sales)"]["ndcg_at_10"]
        )
        sim = result["similar_items"]
        print(
            f"{result['month']}: NDCG@10 description/popularity = {text / pop:.2f}x against the month's sales, "
            f"{late_ratio:.2f}x against the first week's; "
            f"similar-items hit rate {sim['description neighbours']['hit_rate_at_10']:.3f} vs "
            f"{sim['popularity (established)']['hit_rate_at_10']:.3f}"
        )
    print(f"total {time.monotonic() - started:.0f} s")
    (root / "results.json").write_text(json.dumps({"months": results, "fm": fm_results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

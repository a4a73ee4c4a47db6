"""Training data from the preprocessing job's outputs, laid out as SageMaker channels.

  train/     interactions.parquet files (any depth), the months the model learns from
  test/      interactions.parquet of the holdout month (optional: without it, the last 10% of
             the training time range is held out)
  features/  user_features.parquet and item_features.parquet (optional: side features for FM);
             item_embeddings.parquet (optional: Bedrock description embeddings, as `desc_*` features)

Interactions are aggregated to one (user, item) strength: the number of purchase lines, which is
what implicit-feedback models expect, and robust to bulk quantities.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp

COLUMNS = ["user_id", "item_id", "timestamp"]
DESCRIPTION_EMBEDDINGS = "item_embeddings.parquet"


class DataError(ValueError):
    pass


def read_interactions(directory: str | Path) -> pd.DataFrame:
    files = sorted(Path(directory).rglob("*.parquet"))
    if not files:
        raise DataError(f"no .parquet files under {directory}")
    frames = [pq.read_table(f, columns=COLUMNS).to_pandas() for f in files]
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        raise DataError(f"{directory} holds no interactions")
    return data


@dataclass
class Dataset:
    users: np.ndarray  # user ids, index = row of the matrices
    items: np.ndarray  # item ids, index = column
    train: sp.csr_matrix  # users x items, purchase-line counts
    test: dict[int, set[int]]  # user index -> items bought in the holdout (known users and items only)
    popularity: np.ndarray  # training lines per item
    user_features: pd.DataFrame | None = None  # indexed by user id
    item_features: pd.DataFrame | None = None  # indexed by item id
    train_end: int = 0  # last training timestamp
    # the training purchase lines as indices: user, item, timestamp (what the repeat-aware models read)
    lines: pd.DataFrame | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.train.shape


def split(train_frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if test_frame is not None:
        return train_frame, test_frame
    cut = train_frame.timestamp.quantile(0.9)
    return train_frame[train_frame.timestamp <= cut], train_frame[train_frame.timestamp > cut]


def build(
    train_frame: pd.DataFrame, test_frame: pd.DataFrame | None = None, features_dir: str | None = None
) -> Dataset:
    train_frame, test_frame = split(train_frame, test_frame)
    users = np.array(sorted(train_frame.user_id.unique()), dtype=object)
    items = np.array(sorted(train_frame.item_id.unique()), dtype=object)
    user_index = pd.Index(users)
    item_index = pd.Index(items)
    counts = train_frame.groupby(["user_id", "item_id"]).size()
    rows = user_index.get_indexer(counts.index.get_level_values(0))
    cols = item_index.get_indexer(counts.index.get_level_values(1))
    matrix = sp.csr_matrix(
        (counts.to_numpy(dtype=np.float32), (rows, cols)), shape=(len(users), len(items)), dtype=np.float32
    )
    test: dict[int, set[int]] = {}
    known = test_frame[test_frame.user_id.isin(user_index) & test_frame.item_id.isin(item_index)]
    for user, group in known.groupby("user_id"):
        test[int(user_index.get_loc(user))] = set(item_index.get_indexer(group.item_id.unique()).tolist())
    user_features = item_features = None
    if features_dir and Path(features_dir).is_dir():
        user_path, item_path = (
            Path(features_dir) / "user_features.parquet",
            Path(features_dir) / "item_features.parquet",
        )
        if user_path.is_file():
            user_features = pd.read_parquet(user_path).set_index("user_id")
        if item_path.is_file():
            item_features = pd.read_parquet(item_path).set_index("item_id")
        embeddings_path = Path(features_dir) / DESCRIPTION_EMBEDDINGS
        if embeddings_path.is_file():  # the catalogue_embeddings DAG's output: description side features
            from include.training.description_features import description_components

            components = description_components(pd.read_parquet(embeddings_path)).set_index("item_id")
            item_features = components if item_features is None else item_features.join(components, how="left")
    return Dataset(
        users=users,
        items=items,
        train=matrix,
        test=test,
        popularity=np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float64),
        user_features=user_features,
        item_features=item_features,
        train_end=int(train_frame.timestamp.max()),
        lines=pd.DataFrame(
            {
                "user": user_index.get_indexer(train_frame.user_id).astype(np.int32),
                "item": item_index.get_indexer(train_frame.item_id).astype(np.int32),
                "timestamp": train_frame.timestamp.to_numpy(dtype=np.int64),
            }
        ),
    )


def channel(name: str) -> str | None:
    """SageMaker's channel directory (`SM_CHANNEL_<NAME>`), or None when the channel is absent."""
    path = os.environ.get(f"SM_CHANNEL_{name.upper()}")
    return path if path and os.path.isdir(path) else None

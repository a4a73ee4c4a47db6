"""Description embeddings as item side features for the factorization machine.

An FM adds, per item, one learned vector per feature; 256 embedding dimensions as 256 dense
features would make every item row dense. The first `n` principal components of the catalogue's
embeddings keep most of what separates descriptions in a few columns (`desc_0`...), scaled to unit
variance like the other dense features (`*_z`). Signs are fixed (each component's largest loading
positive) so the same catalogue always gives the same columns.

Input: the catalogue_embeddings DAG's `item_embeddings.parquet` (item_id, embedding, ...), staged
into the training job's `features` channel. Lives in include/training because only that package
travels to the training job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PREFIX = "desc_"


def description_components(catalogue: pd.DataFrame, n: int = 16) -> pd.DataFrame:
    """item_id and `n` standardised principal components of the items' description embeddings."""
    vectors = np.vstack([np.asarray(v, dtype=np.float64) for v in catalogue["embedding"]])
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    components = components[: min(n, components.shape[0])]
    largest = components[np.arange(len(components)), np.abs(components).argmax(axis=1)]
    signs = np.where(largest < 0, -1.0, 1.0)
    scores = centred @ (components * signs[:, None]).T
    scores /= np.where(scores.std(axis=0) > 0, scores.std(axis=0), 1)
    frame = pd.DataFrame(scores.astype(np.float32), columns=[f"{PREFIX}{i}" for i in range(scores.shape[1])])
    frame.insert(0, "item_id", catalogue["item_id"].to_numpy())
    return frame

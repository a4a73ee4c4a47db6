"""The recommenders, each turning a `data.Dataset` into an `artifact.ScoringModel`.

`repeat` (the repeat-aware ranker over the customer's own and neighbours' items, the default),
`fm` (factorization machine with user and item side features), `als` and `bpr` (the `implicit`
library), and the baselines every model must beat: `popularity` (global), `personal_popularity`
(the customer's own most-bought items, then global) and `recency_popularity` (the same with
recent lines weighing more).
"""

from __future__ import annotations

from collections.abc import Callable

from include.training.artifact import ScoringModel
from include.training.data import Dataset

MODELS = ("repeat", "fm", "als", "bpr", "popularity", "personal_popularity", "recency_popularity")
DEFAULT_MODEL = "repeat"


def trainer(name: str) -> Callable[[Dataset, dict], ScoringModel]:
    if name == "popularity":
        from include.training.models.popularity import train
    elif name in ("personal_popularity", "recency_popularity"):
        from include.training.models.personal import train
    elif name == "repeat":
        from include.training.models.repeat import train
    elif name in ("als", "bpr"):
        from include.training.models.implicit_mf import train
    elif name == "fm":
        from include.training.models.fm import train
    else:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return train

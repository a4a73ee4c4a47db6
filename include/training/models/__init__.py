"""The recommenders, each turning a `data.Dataset` into an `artifact.ScoringModel`.

`fm` (factorization machine with user and item side features, the platform's headline model),
`als` and `bpr` (the `implicit` library), `popularity` (the baseline every model must beat).
"""

from __future__ import annotations

from collections.abc import Callable

from include.training.artifact import ScoringModel
from include.training.data import Dataset


def trainer(name: str) -> Callable[[Dataset, dict], ScoringModel]:
    if name == "popularity":
        from include.training.models.popularity import train
    elif name in ("als", "bpr"):
        from include.training.models.implicit_mf import train
    elif name == "fm":
        from include.training.models.fm import train
    else:
        raise ValueError(f"unknown model {name!r}: choose fm, als, bpr or popularity")
    return train


MODELS = ("fm", "als", "bpr", "popularity")

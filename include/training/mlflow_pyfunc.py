"""The MLflow model, logged "from code": MLflow stores this file, not a pickled object.

A pyfunc over the scoring artifact (`model.npz` + `model.json`, logged as the `model_dir`
artifact): input rows {user_id, num_results, country?}, output one row per input with the
recommended items and where they came from (model, context or popularity).
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

try:  # logged beside this file as a code path
    from artifact import ScoringModel  # type: ignore[import-not-found]
except ImportError:
    from include.training.artifact import ScoringModel


class RecommenderModel(PythonModel):
    def load_context(self, context) -> None:
        self.model = ScoringModel.load(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        rows = []
        for record in model_input.to_dict("records"):
            country = record.get("country")
            result = self.model.recommend_for(
                str(record["user_id"]),
                int(record.get("num_results") or 10),
                {"country": str(country)} if isinstance(country, str) and country else None,
            )
            rows.append({"user_id": str(record["user_id"]), "items": result["items"], "source": result["source"]})
        return pd.DataFrame(rows)


mlflow.models.set_model(RecommenderModel())

"""Predictions on the never-measured rows of a labelled table, for the report.

The report (:mod:`e2t_discovery.report`) has no model; this loop step predicts with the
campaign's latest model and hands the predictions to it as a frame
(``campaign_report_data(..., holdout=...)``).
"""

from __future__ import annotations

import pandas as pd

from e2t_discovery.loop.campaign import Campaign

__all__ = ["holdout_predictions"]


def holdout_predictions(campaign: Campaign, table: pd.DataFrame, id_column: str,
                        value_column: str) -> pd.DataFrame:
    """Predict the never-measured rows of a labelled table with the latest model.

    Args:
        campaign: An open campaign with a model.
        table: Labelled table holding the campaign's input column.
        id_column: Its identifier column.
        value_column: Its column of true values.

    Returns:
        ``id``, ``domain``, ``mean``, ``std``, ``y_true`` for rows with a value whose id
        the campaign never measured.
    """
    measured = set(campaign.store.measurements(campaign.config.target.property)
                   ["material_id"].astype(str))
    rows = table[table[value_column].notna()
                 & ~table[id_column].astype(str).isin(measured)].reset_index(drop=True)
    if rows.empty:
        return pd.DataFrame(columns=["id", "domain", "mean", "std", "y_true"])
    pred = campaign.predict_frame(rows)
    return pd.DataFrame({"id": rows[id_column].astype(str), "domain": pred["domain"],
                         "mean": pred["mean"], "std": pred["std"],
                         "y_true": rows[value_column].astype(float)})

"""Campaign report: metrics, plots and the HTML page.

Layers, lowest first: :mod:`~e2t_discovery.report.metrics` (pure functions on frames),
:mod:`~e2t_discovery.report.labels` (axis labels, numbers as text),
:mod:`~e2t_discovery.report.data` (:class:`ReportData` and building it from a store),
:mod:`~e2t_discovery.report.plots` (figures, PNGs) and :mod:`~e2t_discovery.report.html`
(the page). The report sits below :mod:`e2t_discovery.loop`: it never imports the loop or
the CLI, and takes values (store, config, name, folder), never a ``Campaign``.
"""

from e2t_discovery.report.data import (
    OBJECTIVES,
    CampaignTables,
    ReportData,
    StoreReader,
    campaign_report_data,
    campaign_setup,
    data_sources,
)
from e2t_discovery.report.html import check_out_dir, quality_table, write_report
from e2t_discovery.report.labels import axis_label
from e2t_discovery.report.metrics import (
    best_so_far,
    domain_counts,
    goodness,
    interval_coverage,
    prediction_metrics,
    prospective_predictions,
    round_summary,
)
from e2t_discovery.report.plots import (
    MAX_DOMAIN_ROWS,
    best_so_far_figure,
    calibration_figure,
    domains_figure,
    parity_figure,
    write_plots,
)

__all__ = [
    "MAX_DOMAIN_ROWS",
    "OBJECTIVES",
    "CampaignTables",
    "ReportData",
    "StoreReader",
    "axis_label",
    "best_so_far",
    "best_so_far_figure",
    "calibration_figure",
    "campaign_report_data",
    "campaign_setup",
    "check_out_dir",
    "data_sources",
    "domain_counts",
    "domains_figure",
    "goodness",
    "interval_coverage",
    "parity_figure",
    "prediction_metrics",
    "prospective_predictions",
    "quality_table",
    "round_summary",
    "write_plots",
    "write_report",
]

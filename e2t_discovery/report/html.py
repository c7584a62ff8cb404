"""The report page: ``index.html`` with its tables, beside the PNG plots.

:func:`write_report` writes the page and its plots (:mod:`e2t_discovery.report.plots`)
into one folder; every table is computed from :class:`ReportData` with
:mod:`e2t_discovery.report.metrics`.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from e2t_discovery.exceptions import E2TError
from e2t_discovery.report.data import ReportData
from e2t_discovery.report.labels import fmt
from e2t_discovery.report.metrics import interval_coverage, prediction_metrics, round_summary
from e2t_discovery.report.plots import write_plots

__all__ = ["check_out_dir", "quality_table", "write_report"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1240px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}td{white-space:nowrap}
td.w{white-space:normal;min-width:18em}
table.setup td{text-align:left;white-space:normal}table.setup th{text-align:left;width:9em}
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
img{border:1px solid #eee;max-width:100%}"""

#: Names of the held-back sets in the page's prediction-quality table.
_SET_NAMES = {"proposed, then measured": "proposals, predicted before they were measured",
              "never measured (held back)": "never measured (held-back table)"}


def _table(frame: pd.DataFrame, left: tuple[str, ...] = (), wrap: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th class='{'l' if c in left else ''}'>{html.escape(str(c))}</th>"
                   for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f"<td class='{'l' if c in left else ''}{' w' if c in wrap else ''}'>"
            f"{html.escape(fmt(v))}</td>"
            for c, v in zip(frame.columns, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _setup_table(setup: tuple[tuple[str, str], ...]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in setup)
    return f"<h2>Setup</h2><table class='setup'>{rows}</table>" if rows else ""


def _unit(data: ReportData) -> str:
    return f" ({data.unit})" if data.unit else ""


def quality_table(data: ReportData) -> pd.DataFrame:
    """Return n, RMSE, R², Spearman ρ and 90% coverage of each held-back set (page table)."""
    rows = []
    for label, pred in data.held_back():
        if not len(pred):
            continue
        s = prediction_metrics(pred)
        rows.append({"held-back set": _SET_NAMES.get(label, label), "n": int(s["n"]),
                     f"RMSE{_unit(data)}": s["rmse"], "R²": s["r2"],
                     "Spearman ρ": s["spearman"],
                     "90% interval coverage": float(interval_coverage(pred, [0.9])[0])})
    return pd.DataFrame(rows)


def _proposal_table(data: ReportData) -> pd.DataFrame:
    first = data.measurements.drop_duplicates("material_id", keep="first")
    table = data.proposals.merge(first[["material_id", "value"]], on="material_id",
                                 how="left").rename(columns={"value": "measured"})
    cols = ["round", "material_id", "domain", "strategy", "mean", "std", "acquisition",
            "measured", "status"]
    extra = [c for c in ("reason",) if c in table.columns]
    table = table[cols + extra].sort_values(["round", "acquisition"], ascending=[True, False])
    return table.rename(columns={"material_id": "material", "mean": f"predicted{_unit(data)}",
                                 "std": "std", "measured": f"measured{_unit(data)}"})


def _rounds_table(data: ReportData) -> pd.DataFrame:
    summary = round_summary(data.measurements, data.proposals, data.objective,
                            data.target_range)
    summary["round"] = ["initial" if r == 0 else str(r) for r in summary["round"]]
    return summary.rename(columns={
        "measurements": "measurements so far", "best": f"best so far{_unit(data)}",
        "best_id": "best material", "best_domain": "its domain",
        "batch_rmse": f"RMSE on batch{_unit(data)}",
        "batch_coverage95": "95% interval coverage"})


def check_out_dir(out_dir: str | Path) -> Path:
    """Return the report folder, refusing a path that exists and is not a folder.

    Raises:
        E2TError: if ``out_dir`` is an existing file.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise E2TError(f"report folder {out} is an existing file; pass a folder for "
                       f"index.html and the plots (it is created if missing)")
    return out


def write_report(data: ReportData, out_dir: str | Path) -> Path:
    """Write ``index.html`` and its PNG plots into ``out_dir``.

    Args:
        data: What to report.
        out_dir: Folder to write (created if missing; files in it are overwritten).

    Returns:
        Path of the written ``index.html``.

    Raises:
        E2TError: if ``out_dir`` is a file or cannot be created.
    """
    out = check_out_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise E2TError(f"cannot create report folder {out}: {exc.strerror or exc}; pass a "
                       f"folder you can write") from None
    plots = write_plots(data, out)
    goal = data.objective + (f" {data.target_range}" if data.target_range else "")
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in data.notes)
    imgs = "".join(f"<img src='{f}' alt='{f[:-4]}'>" for f in plots)
    quality = quality_table(data)
    quality_html = (_table(quality, left=("held-back set",)) if len(quality)
                    else "<p>No held-back data yet.</p>")
    page = f"""<!doctype html><html><head><meta charset='utf-8'>
<title>e2t report: {html.escape(data.name)}</title><style>{_CSS}</style></head><body>
<h1>Campaign {html.escape(data.name)}</h1>
<p>Target: <b>{html.escape(data.target_label())}</b>, goal: {html.escape(goal)}.
{len(data.measurements)} measurements, {len(data.proposals)} proposals,
{data.measurements['domain'].nunique()} domains measured.</p>{notes}
{_setup_table(data.setup)}
<h2>Rounds</h2>{_table(_rounds_table(data), left=("round", "best material", "its domain"))}
<h2>Predictions on held-back data</h2>{quality_html}
<h2>Plots</h2><div class='grid'>{imgs}</div>
<h2>Proposals</h2>{_table(_proposal_table(data), left=("material", "domain", "strategy",
                                                       "status", "reason"), wrap=("reason",))}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index

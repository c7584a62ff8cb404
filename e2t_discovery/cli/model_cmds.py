"""CLI commands of the surrogate: ``e2t train`` and ``e2t predict``.

Each command parses its arguments, calls the :class:`~e2t_discovery.loop.campaign.Campaign`
method of the same name and prints a short summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from e2t_discovery.cli import DirOption, app, open_campaign, plain_console

__all__ = ["train", "predict"]

console = plain_console()

NameArg = Annotated[str, typer.Argument(help="Campaign name (a folder under --dir).",
                                        show_default=False)]


@app.command()
def train(name: NameArg, directory: DirOption = None) -> None:
    """Fit the E2T surrogate on all measurements and store it as a new model version."""
    with open_campaign(name, directory) as campaign:
        record = campaign.train(progress=True)
    metrics = record.metrics
    console.print(f"trained model v{record.version} of {name} on {record.n_measurements} "
                  f"measurements ({metrics.get('n_materials')} materials) in "
                  f"{metrics.get('fit_seconds', float('nan')):.1f} s; train RMSE "
                  f"{metrics.get('train_rmse', float('nan')):.4g}, noise std "
                  f"{metrics.get('noise_std', float('nan')):.4g}", highlight=False)


@app.command()
def predict(
    name: NameArg,
    input: Annotated[Path, typer.Option("--input", help="Candidates (CSV or Parquet) with the "
                                        "campaign's input column.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Predictions file (.csv or .parquet).",
                                      show_default=False)],
    version: Annotated[int | None, typer.Option(
        "--version", help="Model version (default: the newest).", show_default=False)] = None,
    directory: DirOption = None,
) -> None:
    """Predict mean, std and domain distance for every row of a file.

    A row that cannot be predicted (e.g. an invalid p-SMILES) is kept, with its reason in
    the ``reject_reason`` column and NaN mean, std and distance.
    """
    from e2t_discovery.problems import Problem

    with open_campaign(name, directory, read_only=True) as campaign:
        predictions = campaign.predict_file(input, out, version=version)
        column = campaign.config.representation.input_column
    rejected = (predictions["reject_reason"] != "").to_numpy()
    n_bad = int(rejected.sum())
    tail = ""
    if n_bad:
        first = int(rejected.argmax())
        where = Problem(str(input), str(predictions["reject_reason"].iloc[first]),
                        row=first + 1, column=column)
        tail = f" (first: {where}; every reason in column reject_reason)"
    n_ood = int(predictions["out_of_domain"].fillna(False).astype(bool).sum())
    console.print(f"wrote {len(predictions)} rows to {out}: {len(predictions) - n_bad} "
                  f"predicted (mean, std, domain_distance; {n_ood} out of domain: the std "
                  f"there is unchecked), {n_bad} rejected{tail}", highlight=False)

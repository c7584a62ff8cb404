#!/usr/bin/env python
"""Out-of-domain benchmark: E2T against baselines on the paper's extrapolation splits.

Examples:
    E2T_DATA_DIR=../shared/data python scripts/bench_extrapolation.py --dataset pi1070 \
        --seeds 5 --jobs 2 --out scripts/results/pi1070.json
    E2T_DATA_DIR=../shared/data python scripts/bench_extrapolation.py --dataset hoip \
        --split pbi --seeds 5 --out scripts/results/hoip_pbi.json

Prints a compact table and writes JSON (command, versions, seeds and machine included).

To re-run some methods only (say E2T after a change to it) and keep the others' figures
from an earlier run of the same cells and seeds::

    ... --methods e2t,e2t_oracle --reuse scripts/results/pi1070.json --out new.json

The reused methods, their source file and its command are recorded under ``reused``;
reuse is refused when the earlier run has other seeds or lacks a cell.

HOIP also runs ``e2t_chgnet``, ``ridge_chgnet`` and ``gp_chgnet``: the same E2T and
baselines on the descriptors with CHGNet's pretrained crystal features appended (needs the
optional extra, ``pip install 'e2t-discovery[chgnet]'``; leave them out with ``--methods``),
``e2t_cal``: the E2T with CAL-style adversarial augmentation of its episodes, and
``e2t_nearest``: the E2T whose gate and interval calibration hold out the training domains
nearest the test domain's unlabelled inputs (``validation="nearest"``; the inputs only,
as a campaign's candidate library, never the targets).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from e2t_discovery.model.presets import PRESETS

PI1070_PROPERTIES = ("Cp", "refractive_index", "thermal_conductivity", "density")
#: Step of the ``e2t_cal`` row (training standard deviations per column), fixed before
#: its first run: small next to the spread of a domain, as in CAL's perturbations.
ADVERSARIAL = 0.1
PI1070_CLASSES = (13, 3, 2, 4, 1, 7, 9, 10, 15)
#: The on-disk feature cache of the CHGNet rows (bench_transfer.py uses the same folder).
FEATURE_CACHE = Path.home() / ".cache" / "e2t-discovery" / "features"

#: E2T presets (e2t_discovery.model.presets): chosen on validation domains inside the
#: training data (scripts/select_e2t.py), never on a test class or domain.
PI1070_E2T = {**PRESETS["fingerprint-radii"], "device": "cpu"}
#: The polymer featurizer of the E2T rows (one Morgan count block per radius, for the
#: preset's blocked MinMax kernel); the baselines keep the paper's radius-3 counts, the
#: fingerprint a user fits a GP on.
PI1070_E2T_RADII = [0, 1, 2, 3]
HOIP_E2T: dict[str, Any] = {**PRESETS["descriptor"], "device": "cpu"}
#: The linear-head E2T of earlier releases (the paper's ridge head plus a kernel path),
#: reported beside the GP head as ``e2t_linear``.
PI1070_E2T_LINEAR = {**PRESETS["fingerprint-linear"], "device": "cpu"}
HOIP_E2T_LINEAR: dict[str, Any] = {**PRESETS["descriptor-linear"], "device": "cpu"}
#: Seeds of the secondary E2T rows (linear head, graph encoder): their figures at five
#: seeds are in the earlier results (pi1070.json, hoip_*.json of the previous release).
SECONDARY_SEEDS = 2
#: The crystal-graph encoder, reported beside the descriptor encoder on HOIP (gated
#: convolutions over graphs whose global descriptors leave out the partial RDFs; inner
#: leave-one-domain-out R2 in scripts/results/select_hoip.json).
#: Input of the HOIP rows on descriptors plus foundation-model features: the same
#: descriptors (no RDFs) with CHGNet's 64 pretrained crystal features appended
#: (StructureFeaturizer(foundation="chgnet"); the optional chgnet extra).
FOUNDATION_INPUT = "X_chgnet"
HOIP_GRAPH_E2T: dict[str, Any] = {
    "encoder": "graph", "steps": 300, "n_support": 128, "n_query": 32, "loss": "mse",
    "device": "cpu", "graph_params": {"hidden": 32, "n_conv": 2, "linear_path": "identity"},
}


def _methods(dataset: str, with_graph: bool = True,
             only: tuple[str, ...] | None = None) -> dict[str, Any]:
    from e2t_discovery.model import E2TSurrogate
    from e2t_discovery.model.baselines import make_baseline
    from e2t_discovery.model.benchmark import Method

    e2t_cfg = PI1070_E2T if dataset == "pi1070" else HOIP_E2T
    linear_cfg = PI1070_E2T_LINEAR if dataset == "pi1070" else HOIP_E2T_LINEAR
    kernel = "minmax" if dataset == "pi1070" else "rbf"

    def e2t(seed: int) -> Any:
        return _Quiet(E2TSurrogate(**e2t_cfg, seed=seed))

    def e2t_linear(seed: int) -> Any:
        return _Quiet(E2TSurrogate(**linear_cfg, seed=seed))

    def e2t_graph(seed: int) -> Any:
        return _Quiet(E2TSurrogate(**HOIP_GRAPH_E2T, seed=seed))

    e2t_input = ("graphs" if e2t_cfg.get("encoder") == "graph"
                 else "radii" if e2t_cfg.get("base_blocks", 1) > 1 else "X")
    graph = ({"e2t_graph": Method(e2t_graph, params=HOIP_GRAPH_E2T, input="graphs",
                                  max_seeds=SECONDARY_SEEDS)}
             if dataset == "hoip" and with_graph else {})
    # HOIP: the same E2T and two baselines on the descriptors plus CHGNet's pretrained
    # crystal features (FOUNDATION_INPUT), each its own row
    foundation = ({
        "e2t_chgnet": Method(e2t, params=e2t_cfg, input=FOUNDATION_INPUT),
        "ridge_chgnet": Method(lambda s: make_baseline("ridge"), deterministic=True,
                               input=FOUNDATION_INPUT),
        "gp_chgnet": Method(lambda s: make_baseline("gp", kernel=kernel), deterministic=True,
                            params={"kernel": kernel}, input=FOUNDATION_INPUT),
    } if dataset == "hoip" else {})
    # HOIP: CAL-style adversarial augmentation of the episodes (the GP head's
    # ``adversarial`` option: query inputs stepped ADVERSARIAL training stds towards higher
    # variance), its own row; the gate still decides on held-out training domains
    cal_cfg = {**e2t_cfg, "adversarial": ADVERSARIAL}
    cal = ({"e2t_cal": Method(lambda s: _Quiet(E2TSurrogate(**cal_cfg, seed=s)),
                              params=cal_cfg, input=e2t_input)}
           if dataset == "hoip" else {})
    # targeted validation: the gate and the calibration hold out the training domains
    # nearest the test domain's unlabelled inputs (the candidate library of a campaign)
    near_cfg = {**e2t_cfg, "validation": "nearest"}
    nearest = ({"e2t_nearest": Method(lambda s: _Quiet(E2TSurrogate(**near_cfg, seed=s)),
                                      params=near_cfg, input=e2t_input, transductive=True)}
               if dataset == "hoip" else {})
    methods = {
        "e2t": Method(e2t, params=e2t_cfg, input=e2t_input),
        "e2t_linear": Method(e2t_linear, params=linear_cfg, max_seeds=SECONDARY_SEEDS),
        **graph,
        "ridge": Method(lambda s: make_baseline("ridge"), deterministic=True),
        "rf": Method(lambda s: make_baseline("rf", seed=s)),
        "gp": Method(lambda s: make_baseline("gp", kernel=kernel), deterministic=True,
                     params={"kernel": kernel}),
        "mlp": Method(lambda s: make_baseline("mlp", seed=s)),
        "e2t_oracle": Method(e2t, oracle=True, max_seeds=1, params=e2t_cfg, input=e2t_input),
        **foundation,
        **cal,
        **nearest,
    }
    return methods if only is None else {n: m for n, m in methods.items() if n in only}


def method_names(dataset: str) -> tuple[str, ...]:
    """Every method the benchmark runs on ``dataset`` (the graph E2T on HOIP included)."""
    return (*_methods(dataset, with_graph=False), *(("e2t_graph",) if dataset == "hoip"
                                                   else ()))


class _Quiet:
    """Fit the surrogate without a progress bar (many fits run in worker processes)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, X: Any, y: Any, groups: Any, **options: Any) -> _Quiet:
        self.model.fit(X, y, groups, progress=False, **options)
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        return self.model.predict(X, return_std=return_std)

    def fit_info(self) -> dict[str, float]:
        info = getattr(self.model, "fit_info", None)
        return info() if callable(info) else {}


def _pi1070_cell(args: tuple[int, str, list[int], tuple[str, ...] | None]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from e2t_discovery.data.datasets import load_pi1070, pi1070_class_splits
    from e2t_discovery.featurize import get_featurizer
    from e2t_discovery.model.benchmark import evaluate_split

    cls, prop, seeds, only = args
    frame = load_pi1070()
    frame = frame[frame[prop].notna()].reset_index(drop=True)
    smiles = frame["smiles"].tolist()
    X = {"X": get_featurizer("polymer").transform(smiles),
         "radii": get_featurizer("polymer", radius=PI1070_E2T_RADII).transform(smiles)}
    y = frame[prop].to_numpy(dtype=float)
    groups = frame["polymer_class"].to_numpy()
    train, test = pi1070_class_splits(frame)[cls]
    start = time.time()
    methods = evaluate_split(X, y, groups, train, test, _methods("pi1070", only=only),
                             seeds)
    return {"class": cls, "target": prop, "n_train": int(train.size),
            "n_test": int(test.size), "test_std": float(y[test].std()),
            "seconds": round(time.time() - start, 1), "methods": methods}


def _hoip(split: str, seeds: list[int], with_graph: bool = True,
          only: tuple[str, ...] | None = None) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from e2t_discovery.data.datasets import hoip_domains, hoip_split, load_hoip
    from e2t_discovery.featurize import get_featurizer
    from e2t_discovery.model.benchmark import evaluate_split

    frame = load_hoip()
    # Descriptors without the partial RDFs (they hurt extrapolation to an unseen halide).
    featurizer = get_featurizer("structure", rdf_bins=0)
    items = frame["cif_path"].tolist()
    inputs = {"X": featurizer.transform(items)}
    with_graph = with_graph and (only is None or "e2t_graph" in only)
    if with_graph:
        inputs["graphs"] = featurizer.graphs(items)
    if only is None or any(n.endswith("_chgnet") for n in only):
        # cached on disk: CHGNet costs ~0.1 s per structure on one core
        inputs[FOUNDATION_INPUT] = get_featurizer(
            "structure", rdf_bins=0, foundation="chgnet", cache_dir=FEATURE_CACHE
        ).transform(items)
    y = frame["band_gap_gga"].to_numpy(dtype=float)
    train, test = hoip_split(frame, split)  # type: ignore[arg-type]
    return {"methods": evaluate_split(inputs, y, hoip_domains(frame), train, test,
                                      _methods("hoip", with_graph, only), seeds),
            "n_train": int(train.size), "n_test": int(test.size)}


class _Reuse:
    """Figures of methods not re-run, taken from an earlier result of the same seeds."""

    def __init__(self, path: Path, source: dict[str, Any], only: tuple[str, ...]) -> None:
        self.path, self.source, self.only = path, source, only

    @classmethod
    def read(cls, path: Path, seeds: list[int], only: tuple[str, ...] | None) -> _Reuse:
        source = json.loads(path.read_text())
        if source.get("seeds") != seeds:
            raise SystemExit(f"--reuse {path}: it ran seeds {source.get('seeds')}, this run "
                             f"{seeds}; re-run every method or use a matching file")
        return cls(path, source, only or ())

    def describe(self) -> dict[str, Any]:
        source = self.source
        cells = source.get("cells")
        methods = (cells[0]["methods"] if cells else source["methods"]).keys()
        return {"from": str(self.path), "command": source.get("command"),
                "versions": source.get("versions"),
                "methods": [m for m in methods if m not in self.only]}

    def cell(self, cls: int, target: str) -> dict[str, Any]:
        for cell in self.source.get("cells", []):
            if cell["class"] == cls and cell["target"] == target:
                return cell["methods"]
        raise SystemExit(f"--reuse {self.path}: no cell class {cls} / {target}; re-run "
                         "every method or use a file that has it")

    def merged(self, ran: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Any]:
        """The earlier methods in their order, the re-run ones replacing theirs."""
        out = {n: (ran[n] if n in ran else dict(earlier[n], reused=True)) for n in earlier}
        return {**out, **{n: v for n, v in ran.items() if n not in out}}


def _row(name: str, s: dict[str, float]) -> str:
    cov = f"{s['coverage90_mean']:.2f}" if "coverage90_mean" in s else "  - "
    return (f"  {name:11s} R2 {s['r2_mean']:7.3f}±{s['r2_std']:.3f}  RMSE {s['rmse_mean']:.4g}"
            f"±{s['rmse_std']:.2g}  MAE {s['mae_mean']:.4g}  cov90 {cov}  "
            f"NLL {s.get('nll_mean', float('nan')):.3f}")


#: Relative RMSE difference below which two methods tie in a cell: the GP head with its
#: learned part switched off *is* the marginal-likelihood GP, and the two implementations
#: differ in the sixth digit, which must not count as a win.
TIE = 1e-3


def _pi1070_summary(cells: list[dict[str, Any]]) -> dict[str, Any]:
    names = [n for n in cells[0]["methods"] if not cells[0]["methods"][n]["oracle"]]

    def others(c: dict[str, Any]) -> float:
        return min(c["methods"][n]["rmse_mean"] for n in names if n != "e2t")

    e2t = np.array([c["methods"]["e2t"]["rmse_mean"] for c in cells])
    best_other = np.array([others(c) for c in cells])
    wins = int((e2t < best_other * (1 - TIE)).sum())
    ties = int((np.abs(e2t / best_other - 1) <= TIE).sum())
    methods = {}
    for n in cells[0]["methods"]:
        rel = [c["methods"][n]["rmse_mean"] / c["test_std"] for c in cells]
        methods[n] = {"rmse_over_test_std_mean": float(np.mean(rel)),
                      "r2_mean": float(np.mean([c["methods"][n]["r2_mean"] for c in cells]))}
        if "coverage90_mean" in cells[0]["methods"][n]:
            methods[n]["coverage90_mean"] = float(np.mean(
                [c["methods"][n]["coverage90_mean"] for c in cells]))
            methods[n]["nll_mean"] = float(np.mean([c["methods"][n]["nll_mean"] for c in cells]))
    ratio = np.array([c["methods"]["e2t"]["rmse_mean"] / c["methods"]["gp"]["rmse_mean"]
                      for c in cells])
    cover = np.array([c["methods"]["e2t"]["coverage90_mean"] for c in cells])
    return {"e2t_best_rmse_cells": wins, "e2t_tied_best_cells": ties, "tie_tolerance": TIE,
            "n_cells": len(cells), "methods": methods,
            "e2t_over_gp_rmse_ratio_max": float(ratio.max()),
            "e2t_over_gp_rmse_ratio_mean": float(ratio.mean()),
            "e2t_within_3pct_of_gp_cells": int((ratio <= 1.03).sum()),
            "e2t_below_gp_cells": int((ratio < 1 - TIE).sum()),
            "e2t_tied_with_gp_cells": int((np.abs(ratio - 1) <= TIE).sum()),
            "e2t_coverage_80_97_cells": int(((cover >= 0.80) & (cover <= 0.97)).sum()),
            "e2t_phi_active_mean": float(np.mean(
                [c["methods"]["e2t"].get("phi_active_mean", np.nan) for c in cells]))}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("hoip", "pi1070"), required=True)
    parser.add_argument("--split", choices=("gef", "pbi"), default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (PI1070 cells)")
    parser.add_argument("--classes", default=",".join(map(str, PI1070_CLASSES)))
    parser.add_argument("--properties", default=",".join(PI1070_PROPERTIES))
    parser.add_argument("--no-graph", action="store_true",
                        help="HOIP: leave out the crystal-graph E2T row (the slowest)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated subset of the methods to run (default: all)")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="earlier result JSON whose other methods' figures are kept")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.dataset == "hoip" and args.split is None:
        parser.error("--split gef|pbi is required for --dataset hoip")
    known = method_names(args.dataset)
    only = None if args.methods is None else tuple(args.methods.split(","))
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        parser.error(f"--methods: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    if args.reuse is not None and only is None:
        parser.error("--reuse needs --methods (the methods to run again)")
    from e2t_discovery.model.benchmark import environment_info

    seeds = list(range(args.seeds))
    record: dict[str, Any] = {
        "dataset": args.dataset, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "seeds": seeds, **environment_info(),
        "e2t_config": PI1070_E2T if args.dataset == "pi1070" else HOIP_E2T,
        "e2t_linear_config": PI1070_E2T_LINEAR if args.dataset == "pi1070" else HOIP_E2T_LINEAR,
    }
    reuse = _Reuse.read(args.reuse, seeds, only) if args.reuse is not None else None
    if reuse is not None:
        record["reused"] = reuse.describe()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    if args.dataset == "pi1070":
        record.update(split="leave-one-class-out", target=args.properties.split(","), cells=[],
                      e2t_featurizer={"kind": "polymer", "radius": PI1070_E2T_RADII,
                                      "n_bits": 2048})
        todo = [(int(c), p, seeds, only) for c in args.classes.split(",")
                for p in args.properties.split(",")]
        if reuse is not None:
            for c, p, *_ in todo:
                reuse.cell(c, p)  # refuse now, not after hours, if a cell is missing
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for cell in pool.map(_pi1070_cell, todo):
                if reuse is not None:
                    cell["methods"] = reuse.merged(
                        cell["methods"], reuse.cell(cell["class"], cell["target"]))
                record["cells"].append(cell)
                print(f"class {cell['class']:>2} {cell['target']} (test std "
                      f"{cell['test_std']:.4g}, {cell['seconds']} s)", flush=True)
                for name, s in cell["methods"].items():
                    print(_row(name, s), flush=True)
                record.update(_pi1070_summary(record["cells"]))
                record["wall_seconds"] = round(time.time() - start, 1)
                args.out.write_text(json.dumps(record, indent=1))
        print(f"E2T best mean RMSE in {record['e2t_best_rmse_cells']} of "
              f"{record['n_cells']} cells (tied best in {record['e2t_tied_best_cells']}: "
              f"within {TIE:.1%}); below the GP in {record['e2t_below_gp_cells']}, tied "
              f"with it in {record['e2t_tied_with_gp_cells']}, "
              f"within 3% of it in {record['e2t_within_3pct_of_gp_cells']} (worst ratio "
              f"{record['e2t_over_gp_rmse_ratio_max']:.3f}); 90% coverage in 80-97% in "
              f"{record['e2t_coverage_80_97_cells']} cells; learned part on in "
              f"{record['e2t_phi_active_mean']:.0%} of fits", flush=True)
    else:
        record.update(split=args.split, target="band_gap_gga", e2t_graph_config=HOIP_GRAPH_E2T,
                      **_hoip(args.split, seeds, with_graph=not args.no_graph, only=only))
        if reuse is not None:
            record["methods"] = reuse.merged(record["methods"], reuse.source["methods"])
        for name, s in record["methods"].items():
            print(_row(name, s), flush=True)
        baselines = {n: m for n, m in record["methods"].items()
                     if not n.startswith("e2t")}
        best = max(baselines, key=lambda n: baselines[n]["r2_mean"])
        record["best_baseline"] = best
        record["e2t_ahead_of_best_baseline"] = bool(
            record["methods"]["e2t"]["r2_mean"] > baselines[best]["r2_mean"])
        print(f"best baseline: {best} (R2 {baselines[best]['r2_mean']:.3f}); E2T "
              f"{record['methods']['e2t']['r2_mean']:.3f}", flush=True)
        record["wall_seconds"] = round(time.time() - start, 1)
        args.out.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

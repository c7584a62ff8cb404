"""``e2t init`` checks every key before it creates anything; ``e2t init --check FILE``.

Each bad input below was accepted by ``init`` before and failed minutes later (or as an
internal error) in ``train``, ``screen`` or ``propose``. Each must now exit 1 with one line
naming the file, the dotted key, the value and the fix, and leave the disk as it was.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from campaign_helpers import run_main as _main

from e2t_discovery.cli import main
from e2t_discovery.config.templates import templates_dir

CAMPAIGNS = templates_dir()
PI = "pi1070-tc"
HOIP = "hoip-bandgap"


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> SHA-256), and every folder."""
    if not folder.exists():
        return {}
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


def _variant(folder: Path, base: str, old: str | tuple[str, ...],
             new: str | tuple[str, ...]) -> Path:
    """A shipped campaign file with text edits (each edit must apply)."""
    text = (CAMPAIGNS / f"{base}.toml").read_text(encoding="utf-8")
    olds, news = (old, new) if isinstance(old, tuple) else ((old,), (new,))
    for before, after in zip(olds, news, strict=True):
        assert before in text, before
        text = text.replace(before, after, 1)
    path = folder / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A campaigns folder that already holds one campaign (it must stay untouched)."""
    root = tmp_path_factory.mktemp("home")
    with pytest.raises(SystemExit) as info:
        main(["init", "tc", "--config", str(CAMPAIGNS / f"{PI}.toml"), "--dir", str(root)])
    assert info.value.code == 0
    return root


COLUMN_DOMAINS = 'method = "column"\ncolumn = "polymer_class"'

# (id = campaign name, base file, text to replace, replacement, expected message after
# "error: FILE: ")
BAD = [
    ("steps-float", PI, "steps = 200", "steps = 5.5",
     "model.settings.steps = 5.5 is invalid: must be an integer, not a float; write a whole "
     "number without a decimal point"),
    ("steps-string", PI, "steps = 200", 'steps = "500"',
     "model.settings.steps = '500' is invalid: must be an integer, not a string; remove the "
     "quotes"),
    ("strategy-name", PI, 'name = "portfolio"', 'name = "portfolo"',
     "strategy.name = 'portfolo' is invalid: unknown strategy 'portfolo'; did you mean "
     "'portfolio'? known strategies: domain-bayes, greedy, logei, new-domain, ood-ucb, "
     "portfolio, qlognei, random, thompson, ucb"),
    ("strategy-param-unknown", PI, "explore_shortlist = 500", "explore_shortlst = 500",
     "strategy.params.explore_shortlst = 500 is invalid: strategy 'portfolio' has no "
     "parameter 'explore_shortlst'; did you mean 'explore_shortlist'? accepted: "
     "explore_shortlist, prior"),
    ("strategy-param-range", PI, "explore_shortlist = 500", "explore_shortlist = 500\n"
     "prior = -1.0",
     "strategy.params.prior = -1.0 is invalid: strategy 'portfolio': prior=-1.0 must be a "
     "number > 0"),
    ("strategy-param-type", PI, "explore_shortlist = 500", 'explore_shortlist = "500"',
     "strategy.params.explore_shortlist = '500' is invalid: must be an integer, not a "
     "string; remove the quotes"),
    ("strategy-param-int", PI, 'name = "portfolio"\nbatch_size = 10\n\n[strategy.params]\n'
     'explore_shortlist = 500',
     'name = "qlognei"\nbatch_size = 10\n\n[strategy.params]\nshortlist = 2.5',
     "strategy.params.shortlist = 2.5 is invalid: must be an integer, not a float"),
    ("n-bits-negative", PI, "n_bits = 2048", "n_bits = -5",
     "representation.featurizer.n_bits = -5 is invalid: polymer n_bits must be >= 1, got -5"),
    ("n-bits-float", PI, "n_bits = 2048", "n_bits = 2048.5",
     "representation.featurizer.n_bits = 2048.5 is invalid: must be an integer, not a float"),
    ("featurizer-unknown", PI, "n_bits = 2048", "nbits = 2048",
     "representation.featurizer.nbits = 2048 is invalid: the polymer featurizer has no "
     "parameter 'nbits'; did you mean 'n_bits'? accepted: radius, n_bits"),
    ("range-objective", PI, 'direction = "maximize"',
     'direction = "range"\nlow = 0.4\nhigh = 0.6',
     "objective.direction = 'range' is invalid: strategy 'portfolio' ranks candidates to "
     "maximize or minimize only (a range can be screened but no strategy proposes for it); "
     'set direction = "maximize" or "minimize"'),
    ("batch-negative", PI, "batch_size = 10", "batch_size = -10",
     "strategy.batch_size = -10 is invalid: Input should be greater than or equal to 1"),
    ("ensemble-zero", PI, "steps = 200", "steps = 200\nensemble = 0",
     "model.settings.ensemble = 0 is invalid: must be >= 1"),
    ("seed-negative", PI, "seed = 0", "seed = -1",
     "model.settings.seed = -1 is invalid: must be >= 0"),
    ("weight-decay-negative", PI, "steps = 200", "steps = 200\nweight_decay = -0.1",
     "model.settings.weight_decay = -0.1 is invalid: must be >= 0"),
    ("hidden-zero", PI, "steps = 200", "steps = 200\nhidden = [128, 0]",
     "model.settings.hidden = [128, 0] is invalid: every layer width must be >= 1"),
    ("model-option-unknown", PI, "steps = 200", "step = 200",
     "model.settings.step = 200 is invalid: unknown model option; did you mean 'steps'?"),
    ("preset-as-option", PI, "steps = 200", 'steps = 200\npreset = "fingerprint"',
     "model.settings.preset = 'fingerprint' is invalid: unknown model option; a preset is "
     "not an option: copy the options of one of fingerprint, fingerprint-radii, "
     "descriptor, fingerprint-linear, descriptor-linear (e2t_discovery.model.presets) "
     "instead"),
    ("blocks-without-radii", PI, "steps = 200", "steps = 200\nbase_blocks = 4",
     "model.settings.base_blocks = 4 is invalid: needs one fingerprint block per Morgan "
     "radius: set radius to a list of 4 radii under [representation.featurizer] (e.g. "
     "radius = [0, 1, 2, 3]), got radius = 3"),
    ("blocks-structure", HOIP, 'head = "gp"', 'head = "gp"\nbase_blocks = 2',
     "model.settings.base_blocks = 2 is invalid: blocks are MinMax blocks of count "
     "fingerprints: set base_kernel='minmax' (or base_blocks=1)"),
    ("validation-nearest", PI, "steps = 200", 'steps = 200\nvalidation = "nearest"',
     "model.settings.validation = 'nearest' is invalid: campaigns hold out random training "
     "domains; 'nearest' needs the candidates at fit time (E2TSurrogate.fit(..., "
     "library=...), a benchmark option): remove it"),
    ("kmeans-one-cluster", PI, COLUMN_DOMAINS, 'method = "clustering"\nn_clusters = 1',
     "domains.n_clusters = 1 is invalid: k-means needs at least 2 clusters; set n_clusters "
     ">= 2 (or use method 'column')"),
    ("model-clusters-conflict", PI, (COLUMN_DOMAINS, "steps = 200"),
     ('method = "clustering"\nn_clusters = 6', "steps = 200\nn_clusters = 3"),
     "model.settings.n_clusters = 3 is invalid: conflicts with domains.n_clusters = 6 (the "
     "clusters are the domains); remove model.settings.n_clusters"),
    ("model-kmeans-one", PI, "steps = 200", "steps = 200\nn_clusters = 1",
     "model.settings.n_clusters = 1 is invalid: k-means needs >= 2 clusters"),
    ("graph-encoder-polymer", PI, 'head = "gp"', 'head = "bayes"\nencoder = "graph"',
     "model.settings.encoder = 'graph' is invalid: the graph encoder needs crystal "
     'structures, not polymer inputs; use encoder = "mlp" or representation kind "structure"'),
    ("graph-params-unknown", HOIP, 'head = "gp"',
     'head = "bayes"\nencoder = "graph"\ngraph_params = {convs = 2}',
     "model.settings.graph_params.convs = 2 is invalid: not a graph encoder option; "
     "accepted: hidden, n_conv, dropout, use_globals, linear_path, layer_norm, global_clip"),
    ("rdf-bins-one", HOIP, "rdf_bins = 0", "rdf_bins = 1",
     "representation.featurizer.rdf_bins = 1 is invalid: structure featurizer rdf_bins=1 is "
     "invalid; use rdf_bins 0 (no RDFs) or >= 2"),
    ("composition-params", HOIP, 'kind = "structure"', 'kind = "composition"',
     "representation.featurizer.rdf_bins = 0 is invalid: the composition featurizer has no "
     "parameter 'rdf_bins'; accepted: none (the composition featurizer takes no parameters; "
     "remove the [representation.featurizer] table)"),
    ("element-symbol", HOIP, '"Br", "I"]', '"Br", "i"]',
     "domains.element_groups = [['Ge', 'Sn', 'Pb'], ['F', 'Cl', 'Br', 'i']] is invalid: 'i' "
     'is not an element symbol; write symbols such as "Pb" or "I" (case matters)'),
]


@pytest.mark.parametrize(("name", "base", "old", "new", "message"), BAD,
                         ids=[b[0] for b in BAD])
def test_init_refuses_a_bad_key_in_one_line_and_creates_nothing(
        name: str, base: str, old: str, new: str, message: str, home: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    bad = _variant(tmp_path, base, old, new)
    before, here = _tree(home), _tree(tmp_path)
    code, out, err = _main(["init", name, "--config", str(bad), "--dir", str(home)], capsys)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {bad}: {message}"), err
    assert _tree(home) == before and not (home / name).exists()
    assert _tree(tmp_path) == here
    # --check says the same, and creates nothing either
    code, out, err_check = _main(["init", "--check", str(bad)], capsys)
    assert (code, out, err_check) == (1, "", err)
    assert _tree(home) == before and _tree(tmp_path) == here


@pytest.mark.parametrize("path", sorted(CAMPAIGNS.glob("*.toml")), ids=lambda p: p.name)
def test_check_accepts_every_shipped_campaign_and_creates_nothing(
        path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("E2T_HOME", str(tmp_path / "home"))
    code, out, err = _main(["init", "--check", str(path)], capsys)
    assert (code, out, err) == (0, f"{path}: ok\n", "")
    assert list(tmp_path.iterdir()) == []
    # NAME and --config given as well: still only a check (--check is eager)
    code, out, _ = _main(["init", "x", "--config", str(path), "--check", str(path)], capsys)
    assert (code, out) == (0, f"{path}: ok\n")
    assert list(tmp_path.iterdir()) == []


def test_check_of_a_missing_file_and_without_a_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.toml"
    code, _, err = _main(["init", "--check", str(missing)], capsys)
    assert code == 1 and err == (f"error: campaign file {missing} does not exist; pass an "
                                 f"existing TOML file (or start from a template: "
                                 f"`e2t templates`)\n")
    code, _, err = _main(["init", "--check"], capsys)
    assert code == 2 and "Option '--check' requires an argument" in err
    assert list(tmp_path.iterdir()) == []


def test_check_in_a_real_process(tmp_path: Path) -> None:
    bad = _variant(tmp_path, PI, "steps = 200", "steps = 5.5")
    e2t = [sys.executable, "-c", "from e2t_discovery.cli import main; main()"]
    done = subprocess.run([*e2t, "init", "--check", str(bad)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"error: {bad}: model.settings.steps = 5.5 is invalid: must be an "
                           f"integer, not a float; write a whole number without a decimal "
                           f"point\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]

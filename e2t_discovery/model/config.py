"""Hyperparameters of the E2T surrogate as one frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from e2t_discovery.exceptions import ConfigError
from e2t_discovery.messages import did_you_mean, shown_value
from e2t_discovery.model.episodes import EPISODE_POLICIES
from e2t_discovery.model.presets import PRESETS
from e2t_discovery.param_types import parameter_types, type_problem

__all__ = ["EXACT_ROWS", "INDUCING_ROWS", "SurrogateConfig"]

#: GPyTorch switches from Cholesky to conjugate gradients above 800 rows by default; the
#: GP head stays exact (Cholesky) up to this many support rows (``exact_rows``).
EXACT_ROWS = 20_000
#: Inducing points of the GP head's posterior past ``exact_rows`` (``inducing_rows``).
INDUCING_ROWS = 2048

_CHOICES: dict[str, tuple[str, ...]] = {
    "encoder": ("mlp", "graph"),
    "head": ("auto", "gp", "bayes", "ridge"),
    "base_kernel": ("auto", "minmax", "rbf", "rbf_linear"),
    "phi_kernel": ("rbf", "linear", "none"),
    "select_on": ("mse", "nll"),
    "gate": ("every_domain", "pooled"),
    "loss": ("nll", "mse"),
    "calibration_target": ("coverage", "nll"),
    "validation": ("random", "nearest"),
    "policy": EPISODE_POLICIES,
    "device": ("auto", "cpu", "cuda"),
    "input_transform": ("none", "log1p"),
    "kernel": ("tanimoto", "rbf"),
}

#: Campaign files set these options under this table (named in every error).
SETTINGS_KEY = "model.settings"


def _invalid(name: str, value: Any, rule: str) -> ConfigError:
    """The one-line error of a bad option: dotted key, value, rule and fix."""
    return ConfigError(f"{SETTINGS_KEY}.{name} = {shown_value(value)} is invalid: {rule}")


@dataclass(frozen=True)
class SurrogateConfig:
    """Configuration of :class:`~e2t_discovery.model.E2TSurrogate`.

    Attributes:
        encoder: ``mlp`` (ndarray input) or ``graph`` (list of ``CrystalGraph``).
        hidden: Hidden widths of the MLP encoder (paper: 128, 128).
        embed_dim: Width of the (LayerNorm-ed) MLP embedding (paper: 16).
        dropout: Dropout of the encoder (paper: 0.2).
        layer_norm: LayerNorm on the MLP embedding (paper: True).
        linear_dim: Width of the linear path from the standardized input into the
            embedding (0 = the paper's encoder); lets predictions follow a trend outward.
        input_transform: ``none`` or ``log1p`` (applied to inputs before standardization;
            ``log1p`` damps large fingerprint counts).
        input_clip: Bound on standardized inputs.
        kernel_dim: Landmarks of the kernel path (0 = none): Nystroem features of a fixed
            kernel on the inputs, appended to the embedding with a learned scale, so the
            head is kernel ridge regression plus the meta-learned features.
        kernel: Kernel of the kernel path: ``tanimoto`` (non-negative counts, e.g.
            fingerprints) or ``rbf`` (standardized descriptors, median-heuristic length).
        head: ``gp`` (exact GP on the support set with a fixed plus a meta-learned
            kernel; see :mod:`~e2t_discovery.model.gp_surrogate`), ``bayes`` (Bayesian
            linear head on the embedding: learned ridge penalty and noise) or ``ridge``
            (fixed penalty ``ridge_lambda``, learned noise: the paper's head plus a noise
            level). ``auto`` (the default): ``gp`` for the MLP encoder, ``bayes`` for the
            graph encoder.
        base_kernel: Fixed part of the GP head's kernel: ``minmax`` (Tanimoto on count
            fingerprints), ``rbf`` (RBF-ARD), ``rbf_linear`` (RBF-ARD + linear), or
            ``auto`` (``minmax`` for non-negative integer inputs, else ``rbf_linear``).
        base_blocks: GP head, ``minmax`` base: the inputs are this many equal column
            blocks (Morgan counts of several radii, ``PolymerFeaturizer(radius=[0, 1, 2,
            3])``) and the base kernel is a weighted sum of the blocks' MinMax kernels,
            block weights fitted by marginal likelihood with the other hyperparameters
            (and on episodes with ``train_base``). 1 = one MinMax kernel on all columns.
        phi_kernel: Kernel on the learned embedding in the GP head: ``rbf``, ``linear``
            or ``none`` (the head is then a GP with episodically tuned hyperparameters).
        phi_scale: Initial scale ``s_phi`` of the learned kernel (standardized units).
        hyper_lr: Adam learning rate of the GP head's kernel hyperparameters.
        train_base: Train the fixed part's hyperparameters, mean and noise on episodes
            too (else they keep their marginal-likelihood values).
        select_on: Held-out-domain score that gates the GP head's episodic training
            (``mse`` or ``nll``); step 0 (the marginal-likelihood GP) competes.
        min_improvement: Relative improvement of that score needed to accept a state.
        gate: GP head: how held-out training domains decide that an episodic state
            beats step 0:
            ``every_domain`` (the default) accepts a state only if its score is lower than
            the marginal-likelihood GP's on *every* held-out domain, besides a lower
            pooled score; ``pooled`` looks at the pooled score alone (the rule of earlier
            releases: one held-out domain that improves a lot can outvote the others).
        var_rank: GP head: predictive variances through a cached rank-``var_rank``
            factor once the support holds more than ``4 * var_rank`` rows (screening cost
            ``var_rank x n`` instead of ``n x n`` per candidate; variances can only be
            overstated); 0 keeps them exact. Joint posteriors are exact up to
            ``exact_rows``.
        exact_rows: GP head: support rows (training + conditioned) up to which the
            posterior is exact (Cholesky); past them it is approximated with
            ``inducing_rows`` inducing points drawn from the support (DTC; accuracy loss
            measured by ``scripts/bench_gp_head.py --inducing``).
        inducing_rows: GP head: inducing points of that approximation.
        ridge_lambda: Initial (``bayes``) or fixed (``ridge``) ridge penalty.
        loss: ``nll`` (Gaussian NLL of the query) or ``mse``.
        policy: Episode policy: ``gkfold``, ``softgkfold`` or ``same``.
        n_support: Support-set size per episode.
        n_query: Query-set size per episode.
        n_ways: Query domains per episode.
        support_ways: Support domains per episode (None = all others).
        episodes_per_step: Episodes averaged per optimizer step.
        steps: Maximum optimizer steps per ensemble member.
        lr: Adam learning rate.
        weight_decay: Adam (decoupled, AdamW) weight decay.
        val_fraction: Fraction of training domains held out per member for early stopping
            and noise calibration (0 disables both; needs >= 3 domains).
        validation: GP head: which training domains are held out. ``random`` (default):
            a random ``val_fraction`` of them per member. ``nearest``: the ``val_fraction``
            nearest the unlabelled candidates passed to ``fit(..., library=...)`` (mean
            over candidates of the distance to a domain's nearest row, in the
            standardized inputs), the same for every member: a targeted, transductive
            choice in the spirit of CAL's second half (Li, Miklaucic & Hu 2024),
            so the gate and the interval calibration judge the model on the training
            domains that look most like what it will be asked to predict.
        eval_every: Steps between validation evaluations.
        patience: Evaluations without improvement before stopping.
        calibrate: Refit the noise variance in closed form after training: on held-out
            validation domains, or (``val_fraction=0`` with ``loss="mse"``, which never
            trains the noise) on fresh extrapolative episodes of the training data.
        calibration_target: GP head: what the one variance factor of ``calibrate`` is
            fitted to on those held-out queries. ``coverage`` (default): the 90% central
            interval covers 90% of them (the factor is the 90% quantile of their squared
            z-scores over 1.645^2; robust to the few far-off rows an unseen domain
            holds). ``nll``: the Gaussian NLL is minimal (the mean squared z-score, which
            those few rows inflate, so most intervals come out too wide).
        adversarial: GP head: CAL-style adversarial augmentation (Li, Miklaucic & Hu
            2024) of the episodic training. Each episode's query inputs are also scored
            after one step of ``adversarial`` training-row standard deviations per column
            along the sign of the gradient of their predictive variance (towards where
            the model is least sure), keeping their labels; the loss averages both. 0
            (default) is off. Needs descriptor inputs (an RBF base kernel): count
            fingerprints cannot be perturbed that way.
        n_clusters: k-means clusters used as domains when no groups are given.
        ensemble: Number of members trained from different seeds.
        seed: Base seed (member ``i`` uses ``seed + i``).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        batch_size: Rows per batch when embedding for prediction.
        graph_params: Keyword arguments of the graph encoder (``encoder="graph"``).
    """

    encoder: str = "mlp"
    hidden: tuple[int, ...] = (128, 128)
    embed_dim: int = 16
    dropout: float = 0.2
    layer_norm: bool = True
    linear_dim: int = 4
    input_transform: str = "none"
    input_clip: float = 10.0
    kernel_dim: int = 0
    kernel: str = "tanimoto"
    head: str = "auto"
    base_kernel: str = "auto"
    base_blocks: int = 1
    phi_kernel: str = "rbf"
    phi_scale: float = 0.05
    hyper_lr: float = 0.02
    train_base: bool = True
    select_on: str = "mse"
    min_improvement: float = 0.005
    gate: str = "every_domain"
    var_rank: int = 256
    exact_rows: int = EXACT_ROWS
    inducing_rows: int = INDUCING_ROWS
    ridge_lambda: float = 1.0
    loss: str = "nll"
    policy: str = "gkfold"
    n_support: int = 256
    n_query: int = 64
    n_ways: int = 1
    support_ways: int | None = None
    episodes_per_step: int = 1
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    validation: str = "random"
    eval_every: int = 50
    patience: int = 6
    calibrate: bool = True
    calibration_target: str = "coverage"
    adversarial: float = 0.0
    n_clusters: int = 8
    ensemble: int = 1
    seed: int = 0
    device: str = "auto"
    batch_size: int = 2048
    graph_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_types()
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.head == "auto":
            object.__setattr__(self, "head", "gp" if self.encoder == "mlp" else "bayes")
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise _invalid(name, value, f"use one of {', '.join(choices)}")
        for name in ("embed_dim", "n_support", "n_query", "n_ways", "steps", "ensemble",
                     "eval_every", "patience", "batch_size", "episodes_per_step",
                     "exact_rows", "inducing_rows", "base_blocks"):
            if getattr(self, name) < 1:
                raise _invalid(name, getattr(self, name), "must be >= 1")
        for name in ("kernel_dim", "var_rank", "linear_dim", "seed"):
            if getattr(self, name) < 0:
                raise _invalid(name, getattr(self, name), "must be >= 0")
        for name in ("phi_scale", "hyper_lr", "lr", "ridge_lambda", "input_clip"):
            if not getattr(self, name) > 0:
                raise _invalid(name, getattr(self, name), "must be > 0")
        if self.base_blocks > 1 and self.base_kernel not in ("minmax", "auto"):
            raise _invalid("base_blocks", self.base_blocks,
                           "blocks are MinMax blocks of count fingerprints: set "
                           "base_kernel='minmax' (or base_blocks=1)")
        if self.n_clusters < 2:
            raise _invalid("n_clusters", self.n_clusters, "k-means needs >= 2 clusters")
        if self.support_ways is not None and self.support_ways < 1:
            raise _invalid("support_ways", self.support_ways,
                           "must be >= 1 (leave it out to use every other domain)")
        if any(h < 1 for h in self.hidden):
            raise _invalid("hidden", list(self.hidden), "every layer width must be >= 1")
        if not self.weight_decay >= 0:
            raise _invalid("weight_decay", self.weight_decay, "must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise _invalid("dropout", self.dropout, "must be >= 0 and < 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise _invalid("val_fraction", self.val_fraction,
                           "must be >= 0 and < 1 (0 disables validation)")
        if not (math.isfinite(self.adversarial) and 0.0 <= self.adversarial <= 1.0):
            raise _invalid("adversarial", self.adversarial,
                           "must be >= 0 and <= 1 (a step in training standard deviations; "
                           "0 disables it)")
        if self.adversarial and self.head != "gp":
            raise _invalid("adversarial", self.adversarial,
                           "adversarial augmentation is an option of the GP head (head='gp')")
        if self.validation == "nearest" and (self.head != "gp" or self.val_fraction <= 0):
            raise _invalid("validation", self.validation,
                           "validation='nearest' chooses the GP head's held-out training "
                           "domains: it needs head='gp' and val_fraction > 0")
        if not 0 <= self.min_improvement < 1:
            raise _invalid("min_improvement", self.min_improvement, "must be >= 0 and < 1")
        if self.head == "gp" and self.encoder != "mlp":
            raise _invalid("head", "gp", f"the GP head needs encoder='mlp' (got "
                           f"{self.encoder!r}); use "
                           "head='bayes' or 'ridge' with the graph encoder")
        if self.head == "gp" and self.kernel_dim:
            raise _invalid("kernel_dim", self.kernel_dim,
                           "kernel_dim is the linear heads' kernel path; the GP head holds "
                           "its kernel itself: set kernel_dim=0 (and base_kernel) or use "
                           "head='bayes'")
        self._check_graph_params()

    def _check_types(self) -> None:
        """Raise ConfigError naming the first field whose value has the wrong type."""
        hints = _field_types()
        for f in dataclasses.fields(self):
            problem = type_problem(getattr(self, f.name), hints[f.name])
            if problem is not None:
                raise _invalid(f.name, getattr(self, f.name), problem)

    def _check_graph_params(self) -> None:
        """Check ``graph_params`` against the graph encoder's keyword arguments."""
        if not self.graph_params:
            return
        if self.encoder != "graph":
            raise _invalid("graph_params", self.graph_params,
                           f"graph_params apply only to encoder='graph' (got "
                           f"{self.encoder!r}); remove them")
        from e2t_discovery.model.graph_encoder import CrystalGraphEncoder

        accepted = parameter_types(CrystalGraphEncoder)
        for name in ("node_dim", "edge_dim", "global_mean", "global_scale", "out_dim"):
            accepted.pop(name)
        for key, value in self.graph_params.items():
            if key not in accepted:
                raise _invalid(f"graph_params.{key}", value,
                               f"not a graph encoder option; accepted: {', '.join(accepted)}")
            problem = type_problem(value, accepted[key])
            if problem is not None:
                raise _invalid(f"graph_params.{key}", value, problem)

    def replace(self, **overrides: Any) -> SurrogateConfig:
        """Return a copy with some fields changed (unknown names raise ConfigError)."""
        return SurrogateConfig.from_dict({**self.to_dict(), **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serializable dict of every field."""
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SurrogateConfig:
        """Build from a dict; unknown keys raise ConfigError listing the known ones."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in known:
                hint = did_you_mean(key, known)
                if key == "preset":
                    hint = ("a preset is not an option: copy the options of one of "
                            f"{', '.join(PRESETS)} (e2t_discovery.model.presets) instead; ")
                raise _invalid(key, values[key], f"unknown model option; {hint}known: "
                               f"{', '.join(sorted(known))}")
        return cls(**values)


@functools.cache
def _field_types() -> dict[str, Any]:
    """The resolved annotations of :class:`SurrogateConfig`'s fields."""
    return typing.get_type_hints(SurrogateConfig)

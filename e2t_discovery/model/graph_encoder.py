"""Crystal-graph message-passing encoder (pure torch, CGCNN-style gated convolutions).

A batch of :class:`~e2t_discovery.featurize.graph.CrystalGraph` is collated into one
disjoint graph (:func:`collate_graphs`); each :class:`GatedGraphConv` layer updates every
node from its incoming edges with the CGCNN gate
``h_i <- softplus(h_i + LN(mean_j sigmoid(W_g z_ij) * softplus(W_c z_ij)))`` with
``z_ij = [h_i, h_j, e_ij]``, scattered with ``index_add_`` (no graph library). Node
states are mean-pooled per graph, joined with the standardized global descriptors of
the graph and mapped to the embedding.

As in :class:`~e2t_discovery.model.encoder.MLPEncoder`, a *linear path* can append the
standardized global descriptors themselves (``linear_path="identity"``, scaled by a learned
gain) or a learned linear projection of them (``linear_path=<width>``) to the embedding, so
a linear head on the embedding can follow a trend beyond the training range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from e2t_discovery.exceptions import ModelError
from e2t_discovery.featurize.graph import CrystalGraph

__all__ = [
    "GraphBatch",
    "collate_graphs",
    "GatedGraphConv",
    "CrystalGraphEncoder",
    "build_graph_encoder",
]


@dataclass(frozen=True)
class GraphBatch:
    """A list of crystal graphs as one disjoint graph.

    Attributes:
        node_features: ``N x F`` float32, nodes of all graphs stacked.
        edge_index: ``2 x E`` int64 (source, target), offset into the stacked nodes.
        edge_features: ``E x G`` float32.
        global_features: ``B x D`` float32, one row per graph.
        node_graph: ``N`` int64, the graph each node belongs to.
        n_graphs: ``B``.
    """

    node_features: Tensor
    edge_index: Tensor
    edge_features: Tensor
    global_features: Tensor
    node_graph: Tensor
    n_graphs: int

    def to(self, device: torch.device | str) -> GraphBatch:
        """Return the batch on a device."""
        return GraphBatch(self.node_features.to(device), self.edge_index.to(device),
                          self.edge_features.to(device), self.global_features.to(device),
                          self.node_graph.to(device), self.n_graphs)


def collate_graphs(graphs: Sequence[CrystalGraph],
                   device: torch.device | str | None = None) -> GraphBatch:
    """Collate crystal graphs into one :class:`GraphBatch`.

    Args:
        graphs: ``B`` graphs with the same node, edge and global feature widths.
        device: Where to put the tensors (default CPU).

    Raises:
        ModelError: if the list is empty or feature widths differ between graphs.
    """
    if len(graphs) == 0:
        raise ModelError("cannot collate an empty list of crystal graphs")
    widths = {(g.node_features.shape[1], g.edge_features.shape[1], g.global_features.shape[0])
              for g in graphs}
    if len(widths) != 1:
        raise ModelError(f"crystal graphs have different feature widths {sorted(widths)}; "
                         "featurize all structures with the same StructureFeaturizer")
    n_nodes = np.array([g.n_nodes for g in graphs])
    offsets = np.concatenate([[0], np.cumsum(n_nodes)[:-1]])
    edge_index = np.concatenate([g.edge_index + off for g, off in zip(graphs, offsets,
                                                                      strict=True)], axis=1)
    batch = GraphBatch(
        node_features=torch.from_numpy(np.concatenate([g.node_features for g in graphs])),
        edge_index=torch.from_numpy(edge_index.astype(np.int64)),
        edge_features=torch.from_numpy(np.concatenate([g.edge_features for g in graphs])),
        global_features=torch.from_numpy(np.stack([g.global_features for g in graphs])),
        node_graph=torch.from_numpy(np.repeat(np.arange(len(graphs)), n_nodes)),
        n_graphs=len(graphs),
    )
    return batch.to(device) if device is not None else batch


def _scatter_mean(values: Tensor, index: Tensor, n: int) -> Tensor:
    """Mean of ``values`` rows per ``index`` group: ``M x H`` -> ``n x H`` (0 if empty)."""
    total = values.new_zeros((n, values.shape[1])).index_add_(0, index, values)
    count = values.new_zeros(n).index_add_(0, index, torch.ones_like(index, dtype=values.dtype))
    return total / count.clamp(min=1.0).unsqueeze(1)


class GatedGraphConv(nn.Module):
    """One CGCNN gated convolution with a residual update.

    Args:
        hidden: Node state width ``H``.
        edge_dim: Edge feature width ``G``.

    Shapes:
        ``forward``: ``N x H`` nodes, ``2 x E`` edges, ``E x G`` edge features -> ``N x H``.
    """

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__()
        # W [h_i, h_j, e_ij] split into its three blocks: the node blocks act on N nodes,
        # not on E edges (identical math, several times cheaper).
        self.lin_target = nn.Linear(hidden, 2 * hidden)
        self.lin_source = nn.Linear(hidden, 2 * hidden, bias=False)
        self.lin_edge = nn.Linear(edge_dim, 2 * hidden, bias=False)
        self.norm = nn.LayerNorm(hidden)
        self.act = nn.Softplus()

    def forward(self, h: Tensor, edge_index: Tensor, edge_features: Tensor) -> Tensor:
        """Update node states from their incoming edges (mean over neighbours)."""
        src, dst = edge_index[0], edge_index[1]
        z = self.lin_target(h)[dst] + self.lin_source(h)[src] + self.lin_edge(edge_features)
        gate, core = z.chunk(2, dim=1)
        messages = torch.sigmoid(gate) * self.act(core)
        aggregated = _scatter_mean(messages, dst, h.shape[0])
        return self.act(h + self.norm(aggregated))


class CrystalGraphEncoder(nn.Module):
    """Embed crystal graphs: gated convolutions, mean pooling, readout MLP, linear path.

    Args:
        node_dim: Node feature width ``F``.
        edge_dim: Edge feature width ``G``.
        global_mean: ``D`` means of the global descriptors (from training graphs).
        global_scale: ``D`` scales (> 0) of the global descriptors.
        out_dim: Width of the learned (nonlinear) embedding.
        hidden: Node state width.
        n_conv: Number of gated convolutions.
        dropout: Dropout in the readout MLP.
        use_globals: Feed the standardized global descriptors to the readout MLP.
        linear_path: ``"none"``, ``"identity"`` (append the standardized descriptors times
            a learned gain) or an int width of a learned linear projection of them.
        layer_norm: LayerNorm on the nonlinear embedding.
        global_clip: Bound on standardized global descriptors.

    Shapes:
        ``forward``: ``B`` graphs -> ``B x self.out_dim`` where ``self.out_dim`` is
        ``out_dim`` plus the linear-path width (``D`` for ``"identity"``).
    """

    global_mean: Tensor
    global_scale: Tensor

    def __init__(self, node_dim: int, edge_dim: int, global_mean: np.ndarray,
                 global_scale: np.ndarray, out_dim: int = 16, *, hidden: int = 64,
                 n_conv: int = 3, dropout: float = 0.1, use_globals: bool = True,
                 linear_path: str | int = "identity", layer_norm: bool = False,
                 global_clip: float = 10.0) -> None:
        super().__init__()
        global_dim = int(np.asarray(global_mean).shape[0])
        self.register_buffer("global_mean", torch.as_tensor(global_mean, dtype=torch.float32))
        self.register_buffer("global_scale", torch.as_tensor(global_scale, dtype=torch.float32))
        self.global_clip = float(global_clip)
        self.embed = nn.Linear(node_dim, hidden)
        self.convs = nn.ModuleList([GatedGraphConv(hidden, edge_dim) for _ in range(n_conv)])
        self.use_globals = use_globals and global_dim > 0
        readout_in = hidden + (global_dim if self.use_globals else 0)
        layers: list[nn.Module] = [nn.Linear(readout_in, hidden), nn.SiLU(), nn.Dropout(dropout),
                                   nn.Linear(hidden, out_dim)]
        if layer_norm:
            layers.append(nn.LayerNorm(out_dim))
        self.readout = nn.Sequential(*layers)
        self.linear_mode, linear_width = self._linear_mode(linear_path, global_dim)
        self.linear = (nn.Linear(global_dim, linear_width, bias=False)
                       if self.linear_mode == "projection" else None)
        self.log_gain = nn.Parameter(torch.zeros(()))
        self.out_dim = out_dim + linear_width

    @staticmethod
    def _linear_mode(linear_path: str | int, global_dim: int) -> tuple[str, int]:
        if linear_path in ("none", 0) or global_dim == 0:
            return "none", 0
        if linear_path == "identity":
            return "identity", global_dim
        if isinstance(linear_path, int) and linear_path > 0:
            return "projection", linear_path
        raise ModelError(f"graph encoder linear_path={linear_path!r} is not allowed; use "
                         "'none', 'identity' or a positive int width")

    def standardize(self, global_features: Tensor) -> Tensor:
        """Standardize and clip global descriptors (``B x D`` -> ``B x D``)."""
        z = (global_features - self.global_mean) / self.global_scale
        return z.clamp(-self.global_clip, self.global_clip)

    def forward(self, graphs: Sequence[CrystalGraph] | GraphBatch) -> Tensor:
        """Embed a list of graphs (or a collated batch) on the encoder's device."""
        device = self.global_mean.device
        batch = graphs.to(device) if isinstance(graphs, GraphBatch) else collate_graphs(
            graphs, device)
        h = self.embed(batch.node_features)
        for conv in self.convs:
            h = conv(h, batch.edge_index, batch.edge_features)
        pooled = _scatter_mean(h, batch.node_graph, batch.n_graphs)
        g = self.standardize(batch.global_features)
        z = self.readout(torch.cat([pooled, g], dim=1) if self.use_globals else pooled)
        if self.linear_mode == "identity":
            return torch.cat([z, self.log_gain.exp() * g], dim=1)
        if self.linear is not None:
            return torch.cat([z, self.linear(g)], dim=1)
        return z


def build_graph_encoder(graphs: Sequence[CrystalGraph], out_dim: int = 16,
                        **params: object) -> CrystalGraphEncoder:
    """Build a :class:`CrystalGraphEncoder` sized and standardized from training graphs.

    Args:
        graphs: Training graphs: feature widths are read from the first one, and the global
            descriptors' mean and scale are fitted on all of them (stored as buffers, so
            they are saved and loaded with the weights).
        out_dim: Width of the nonlinear embedding.
        **params: Other :class:`CrystalGraphEncoder` keyword arguments (``hidden``,
            ``n_conv``, ``dropout``, ``use_globals``, ``linear_path``, ``layer_norm``,
            ``global_clip``).

    Raises:
        ModelError: if there are no graphs or an unknown parameter is given.
    """
    if len(graphs) == 0:
        raise ModelError("cannot build a graph encoder without training graphs")
    known = {"hidden", "n_conv", "dropout", "use_globals", "linear_path", "layer_norm",
             "global_clip"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ModelError(f"unknown graph encoder option(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(known))}")
    first = graphs[0]
    glob = np.stack([g.global_features for g in graphs]).astype(np.float64)
    std = glob.std(axis=0)
    return CrystalGraphEncoder(
        node_dim=first.node_features.shape[1], edge_dim=first.edge_features.shape[1],
        global_mean=glob.mean(axis=0), global_scale=np.where(std > 1e-12, std, 1.0),
        out_dim=out_dim, **params,  # type: ignore[arg-type]
    )

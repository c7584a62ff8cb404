"""Tests of the crystal-graph encoder: collation, shapes, invariances, options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from e2t_discovery.exceptions import ModelError
from e2t_discovery.featurize.graph import CrystalGraph
from e2t_discovery.featurize.structure import StructureFeaturizer
from e2t_discovery.model.graph_encoder import (
    CrystalGraphEncoder,
    build_graph_encoder,
    collate_graphs,
)


def _random_graph(rng: np.random.Generator, n_nodes: int, n_global: int = 5) -> CrystalGraph:
    pairs = [(i, j) for i in range(n_nodes) for j in range(n_nodes) if i != j]
    pairs = [pairs[k] for k in rng.choice(len(pairs), size=min(len(pairs), 3 * n_nodes),
                                          replace=False)]
    src = [p[0] for p in pairs] + [p[1] for p in pairs]
    dst = [p[1] for p in pairs] + [p[0] for p in pairs]
    edge = rng.random((len(pairs), 4)).astype(np.float32)
    return CrystalGraph(
        node_features=rng.random((n_nodes, 6)).astype(np.float32),
        edge_index=np.array([src, dst], dtype=np.int64),
        edge_features=np.concatenate([edge, edge]),
        global_features=rng.random(n_global).astype(np.float32),
    )


@pytest.fixture()
def graphs() -> list[CrystalGraph]:
    rng = np.random.default_rng(0)
    return [_random_graph(rng, n) for n in (3, 5, 8, 4)]


def test_collate_offsets_edges(graphs: list[CrystalGraph]) -> None:
    batch = collate_graphs(graphs)
    assert batch.n_graphs == 4
    assert batch.node_features.shape == (20, 6)
    assert batch.node_graph.tolist() == [0] * 3 + [1] * 5 + [2] * 8 + [3] * 4
    # Edges of graph 2 point into its own nodes (offset 3 + 5 = 8).
    start = graphs[0].n_edges + graphs[1].n_edges
    part = batch.edge_index[:, start:start + graphs[2].n_edges]
    assert torch.equal(part, torch.from_numpy(graphs[2].edge_index + 8))
    assert batch.global_features.shape == (4, 5)


def test_collate_rejects_empty_and_mixed_widths(graphs: list[CrystalGraph]) -> None:
    with pytest.raises(ModelError, match="empty list"):
        collate_graphs([])
    odd = CrystalGraph(graphs[0].node_features[:, :3], graphs[0].edge_index,
                       graphs[0].edge_features, graphs[0].global_features)
    with pytest.raises(ModelError, match="different feature widths"):
        collate_graphs([graphs[0], odd])


@pytest.mark.parametrize(("linear_path", "extra"), [("identity", 5), (3, 3), ("none", 0)])
def test_output_shape(graphs: list[CrystalGraph], linear_path: str | int, extra: int) -> None:
    torch.manual_seed(0)
    encoder = build_graph_encoder(graphs, out_dim=7, hidden=16, n_conv=2,
                                  linear_path=linear_path)
    out = encoder(graphs)
    assert encoder.out_dim == 7 + extra
    assert out.shape == (4, 7 + extra)
    assert torch.isfinite(out).all()


def test_node_permutation_invariance(graphs: list[CrystalGraph]) -> None:
    torch.manual_seed(0)
    encoder = build_graph_encoder(graphs, out_dim=8, hidden=16, n_conv=3).eval()
    graph = graphs[2]
    perm = np.random.default_rng(1).permutation(graph.n_nodes)
    inverse = np.argsort(perm)  # new index of old node k is inverse[k]
    permuted = CrystalGraph(graph.node_features[perm], inverse[graph.edge_index],
                            graph.edge_features, graph.global_features)
    edge_order = np.random.default_rng(2).permutation(graph.n_edges)
    shuffled = CrystalGraph(permuted.node_features, permuted.edge_index[:, edge_order],
                            permuted.edge_features[edge_order], permuted.global_features)
    with torch.no_grad():
        a, b, c = encoder([graph]), encoder([permuted]), encoder([shuffled])
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(a, c, atol=1e-5)
    assert not torch.allclose(a, encoder([graphs[1]]), atol=1e-3)


def test_embedding_does_not_depend_on_batch(graphs: list[CrystalGraph]) -> None:
    torch.manual_seed(0)
    encoder = build_graph_encoder(graphs, out_dim=8, hidden=16).eval()
    with torch.no_grad():
        together = encoder(graphs)
        alone = torch.cat([encoder([g]) for g in graphs])
    assert torch.allclose(together, alone, atol=1e-5)


def test_identity_linear_path_carries_standardized_globals(graphs: list[CrystalGraph]) -> None:
    encoder = build_graph_encoder(graphs, out_dim=4, linear_path="identity").eval()
    with torch.no_grad():
        out = encoder(graphs)
    glob = np.stack([g.global_features for g in graphs])
    expected = (glob - glob.mean(0)) / glob.std(0)
    assert np.allclose(out[:, 4:].numpy(), expected, atol=1e-5)


def test_gradients_reach_every_parameter(graphs: list[CrystalGraph]) -> None:
    torch.manual_seed(0)
    encoder = build_graph_encoder(graphs, out_dim=4, hidden=8, linear_path=2)
    encoder(graphs).pow(2).sum().backward()
    for name, param in encoder.named_parameters():
        if name == "log_gain":  # used only by linear_path="identity"
            continue
        assert param.grad is not None and torch.any(param.grad != 0), name


def test_state_dict_round_trip(graphs: list[CrystalGraph]) -> None:
    torch.manual_seed(0)
    encoder = build_graph_encoder(graphs, out_dim=4, hidden=8).eval()
    clone = build_graph_encoder(graphs[:1], out_dim=4, hidden=8).eval()
    clone.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        assert torch.equal(encoder(graphs), clone(graphs))


def test_bad_options_raise(graphs: list[CrystalGraph]) -> None:
    with pytest.raises(ModelError, match="unknown graph encoder option"):
        build_graph_encoder(graphs, n_layers=3)
    with pytest.raises(ModelError, match="linear_path"):
        build_graph_encoder(graphs, linear_path="wide")
    with pytest.raises(ModelError, match="without training graphs"):
        build_graph_encoder([])


def test_real_crystal_graphs(data_dir: Path) -> None:
    paths = sorted((data_dir / "hoip" / "structures").glob("*.cif"))[:4]
    graphs = StructureFeaturizer(graph_hydrogens=False, progress=False).graphs(paths)
    encoder = build_graph_encoder(graphs, out_dim=6, hidden=16)
    assert isinstance(encoder, CrystalGraphEncoder)
    out = encoder(graphs)
    assert out.shape == (4, 6 + graphs[0].global_features.shape[0])
    assert torch.isfinite(out).all()

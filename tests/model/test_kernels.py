"""Kernels of our own: MinMax is exact and positive semi-definite; MappedKernel maps."""

from __future__ import annotations

import numpy as np
import torch
from gpytorch.kernels import RBFKernel

from e2t_discovery.model.kernels import InputMap, MappedKernel, MinMaxKernel


def _brute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([[np.minimum(x, z).sum() / np.maximum(x, z).sum()
                      if np.maximum(x, z).sum() > 0 else 1.0 for z in b] for x in a])


def test_minmax_kernel_matches_brute_force_on_counts_and_reals() -> None:
    rng = np.random.default_rng(0)
    a = rng.poisson(0.7, size=(7, 30)).astype(float)
    b = rng.poisson(0.7, size=(5, 30)).astype(float)
    b[0] = 0.0
    a[1, :5] = 40.0  # counts well above one, many thresholds
    k = MinMaxKernel()
    got = k(torch.tensor(a), torch.tensor(b)).to_dense().detach().numpy()
    np.testing.assert_allclose(got, _brute(a, b), rtol=1e-12)
    real = k(torch.tensor(a + 0.25), torch.tensor(b + 0.5)).to_dense().detach().numpy()
    np.testing.assert_allclose(real, _brute(a + 0.25, b + 0.5), rtol=1e-10)
    diag = k(torch.tensor(a), torch.tensor(a), diag=True).detach().numpy()
    np.testing.assert_allclose(diag, 1.0)
    batched = k(torch.tensor(np.stack([a, a[::-1]])), torch.tensor(b)).to_dense()
    np.testing.assert_allclose(batched[1].detach().numpy(), _brute(a[::-1], b), rtol=1e-12)


def test_minmax_kernel_is_positive_semi_definite_on_random_counts() -> None:
    rng = np.random.default_rng(1)
    for rate in (0.1, 0.5, 2.0):
        x = torch.tensor(rng.poisson(rate, size=(120, 64)).astype(float))
        gram = MinMaxKernel()(x).to_dense().detach()
        assert torch.allclose(gram, gram.T)
        assert float(torch.linalg.eigvalsh(gram).min()) > -1e-10


def test_mapped_kernel_is_the_base_kernel_on_mapped_inputs() -> None:
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(20, 3)) * [1.0, 10.0, 100.0])
    cube = InputMap.unit_cube(x)
    z = cube(x)
    assert float(z.min()) == 0.0 and float(z.max()) == 1.0
    base = RBFKernel().double()
    mapped = MappedKernel(base, cube)
    np.testing.assert_allclose(mapped(x[:5], x[5:]).to_dense().detach().numpy(),
                               base(z[:5], z[5:]).to_dense().detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(mapped(x, diag=True).detach().numpy(), 1.0)


def test_sparse_and_dense_minmax_paths_agree_on_fingerprint_like_counts() -> None:
    from e2t_discovery.model.kernels import _sparse_path, minmax_similarity

    rng = np.random.default_rng(3)
    a = rng.poisson(0.05, size=(300, 256)) * rng.integers(1, 6, size=(300, 256))
    b = rng.poisson(0.05, size=(40, 256)) * rng.integers(1, 6, size=(40, 256))
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    assert _sparse_path(ta, tb)
    sparse = minmax_similarity(ta, tb)
    dense = minmax_similarity(ta.requires_grad_(True), tb).detach()  # gradients: dense path
    np.testing.assert_allclose(sparse.numpy(), dense.numpy(), rtol=1e-12)
    np.testing.assert_allclose(sparse[:20, :10].numpy(), _brute(a[:20], b[:10]), rtol=1e-12)
    np.testing.assert_allclose(minmax_similarity(tb, ta.detach()).numpy(), sparse.numpy().T,
                               rtol=1e-12)


def test_minmax_index_matches_brute_force_and_refuses_what_it_cannot_do() -> None:
    from e2t_discovery.model.kernels import MinMaxIndex

    rng = np.random.default_rng(4)
    support = rng.poisson(0.3, size=(25, 40)) * rng.integers(1, 5, size=(25, 40))
    support[3] = 0  # an all-zero support row
    queries = rng.poisson(0.3, size=(60, 40)) * rng.integers(1, 9, size=(60, 40))
    queries[0] = 0  # all-zero query: similarity 1 to the zero row, 0 elsewhere
    queries[1, :3] = 50  # counts far above anything indexed
    index = MinMaxIndex.build(support.astype(np.float32))
    assert index is not None
    assert index.stack.shape == (int(support.max(0).sum()), 25)
    got = index.similarity(queries.astype(np.float64))
    assert got is not None and got.dtype == np.float64
    np.testing.assert_allclose(got, _brute(queries, support), rtol=1e-12)
    assert got[0, 3] == 1.0 and np.all(np.delete(got[0], 3) == 0.0)
    # through the kernel, either side the larger one: the same numbers
    sim = MinMaxKernel()(torch.tensor(queries, dtype=torch.float64),
                         torch.tensor(support, dtype=torch.float64)).to_dense()
    np.testing.assert_allclose(sim.detach().numpy(), got, rtol=1e-12)
    # not counts, wrong width, negative: None (callers fall back to the dense kernel)
    assert MinMaxIndex.build(support + 0.5) is None
    assert index.similarity(queries[:, :30]) is None
    assert index.similarity(queries + 0.25) is None
    negative = queries.copy()
    negative[2, 0] = -1
    assert index.similarity(negative) is None


def test_blocked_minmax_is_the_weighted_sum_of_its_blocks_and_psd() -> None:
    from e2t_discovery.model.kernels import BlockMinMaxIndex

    rng = np.random.default_rng(5)
    a = rng.poisson(0.4, size=(30, 24)) * rng.integers(1, 4, size=(30, 24))
    b = rng.poisson(0.4, size=(12, 24)) * rng.integers(1, 4, size=(12, 24))
    a[0, 8:16] = 0  # an all-zero block in one row
    k = MinMaxKernel(blocks=3).double()
    with torch.no_grad():
        k.raw_weights.copy_(torch.tensor([0.5, -1.0, 0.25]))
    w = torch.softmax(torch.tensor([0.5, -1.0, 0.25], dtype=torch.float64), -1).numpy()
    assert np.isclose(k.weights.detach().numpy().sum(), 1.0)
    expected = sum(w[i] * _brute(a[:, 8 * i:8 * i + 8], b[:, 8 * i:8 * i + 8]) for i in range(3))
    got = k(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    np.testing.assert_allclose(got.to_dense().detach().numpy(), expected, rtol=1e-12)
    gram = k(torch.tensor(a, dtype=torch.float64)).to_dense().detach()
    assert float(torch.linalg.eigvalsh(gram).min()) > -1e-10
    np.testing.assert_allclose(k(torch.tensor(a, dtype=torch.float64), diag=True)
                               .detach().numpy(), 1.0)
    # the index of one side gives the same numbers, and refuses what it cannot do
    index = k.index(b.astype(np.float32))
    assert isinstance(index, BlockMinMaxIndex)
    np.testing.assert_allclose(index.similarity(a.astype(np.float64)), expected, rtol=1e-12)
    assert index.similarity(a[:, :16]) is None
    assert k.index(b + 0.5) is None
    # the weights are hyperparameters: gradients reach them
    got.to_dense().sum().backward()
    assert k.raw_weights.grad is not None and torch.isfinite(k.raw_weights.grad).all()


def test_blocked_minmax_refuses_columns_that_do_not_split() -> None:
    import pytest

    with pytest.raises(ValueError, match="10 input columns do not split into 3 equal"):
        MinMaxKernel(blocks=3)(torch.ones(2, 10, dtype=torch.float64)).to_dense()
    with pytest.raises(ValueError, match="blocks must be >= 1"):
        MinMaxKernel(blocks=0)

"""Crystal graphs: the input of the message-passing encoder.

A :class:`CrystalGraph` is plain numpy data so that it can be cached on disk, shipped to
Ray workers and batched into torch tensors by the encoder without any graph library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CrystalGraph"]


@dataclass(frozen=True)
class CrystalGraph:
    """One periodic structure as a directed graph.

    Attributes:
        node_features: ``n_atoms x n_node_features`` float32, element features per site.
        edge_index: ``2 x n_edges`` int64, (source, target) site indices; both directions
            of every neighbour pair within the cutoff are present, periodic images included.
        edge_features: ``n_edges x n_edge_features`` float32, Gaussian-expanded distances.
        global_features: ``n_global`` float32, fixed structure descriptors (may be empty).
    """

    node_features: np.ndarray
    edge_index: np.ndarray
    edge_features: np.ndarray
    global_features: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of sites."""
        return int(self.node_features.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.edge_index.shape[1])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Return the graph as a dict of arrays (for ``np.savez`` caching)."""
        return {
            "node_features": self.node_features,
            "edge_index": self.edge_index,
            "edge_features": self.edge_features,
            "global_features": self.global_features,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CrystalGraph:
        """Rebuild a graph from :meth:`to_arrays` output."""
        return cls(
            node_features=np.asarray(arrays["node_features"], dtype=np.float32),
            edge_index=np.asarray(arrays["edge_index"], dtype=np.int64),
            edge_features=np.asarray(arrays["edge_features"], dtype=np.float32),
            global_features=np.asarray(arrays["global_features"], dtype=np.float32),
        )

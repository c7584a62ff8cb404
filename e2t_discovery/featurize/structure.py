"""Crystal structures (CIF) -> structure descriptors and crystal graphs.

:class:`StructureFeaturizer` turns a CIF path, CIF text or pymatgen ``Structure`` into

- a fixed descriptor vector (:meth:`StructureFeaturizer.transform`): composition
  statistics, cell metrics, metal–halide octahedra (bond lengths, off-centring,
  distortion, B–X–B tilt angles, tolerance/octahedral factors), organic-cation size and
  partial radial distribution functions of the inorganic framework; optionally followed
  by a pretrained foundation model's crystal features (``foundation="chgnet"``);
- a :class:`~e2t_discovery.featurize.graph.CrystalGraph` (:meth:`StructureFeaturizer.graphs`)
  for the message-passing encoder: element features per site, directed edges to every
  neighbour (periodic images included) within a cutoff, Gaussian-expanded distances,
  and the descriptors as global features.

Both are cached on disk (``cache_dir``) under the SHA-256 of the content plus the
featurizer settings, so a data set is featurized once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Element, Structure

from e2t_discovery.exceptions import FeaturizationError
from e2t_discovery.featurize.base import Featurizer
from e2t_discovery.featurize.foundation import (
    CHGNET_WIDTH,
    FOUNDATION_MODELS,
    chgnet_crystal_features,
    chgnet_version,
)
from e2t_discovery.featurize.graph import CrystalGraph
from e2t_discovery.featurize.structure_cache import FeatureCache, content_key
from e2t_discovery.featurize.structure_geometry import (
    ELEMENT_PROPERTIES,
    OCTAHEDRA_LABELS,
    ORGANIC_LABELS,
    RDF_PAIRS,
    SiteRoles,
    element_vector,
    octahedra_features,
    organic_features,
    partial_rdf,
    site_roles,
)
from e2t_discovery.progress import progress_bar

__all__ = ["StructureFeaturizer", "parse_structure", "node_features", "NODE_FEATURE_LABELS"]

#: Bump when the descriptor or graph layout changes: it invalidates every cache entry.
FEATURIZER_VERSION = "structure-v1"

_STATS = ("mean", "min", "max", "range", "std")
_BLOCKS = ("s", "p", "d", "f")
NODE_FEATURE_LABELS: list[str] = (
    [f"group_{g}" for g in range(1, 19)] + [f"row_{r}" for r in range(1, 8)]
    + [f"block_{b}" for b in _BLOCKS]
    + ["electronegativity", "atomic_radius", "ionization_energy", "electron_affinity", "Z",
       "role_B", "role_X", "role_organic"]
)


def _is_cif_text(item: str) -> bool:
    return "\n" in item or item.lstrip().startswith("data_")


def _read_item(item: Any) -> tuple[Structure | None, str | None]:
    """Return (structure, None) for a Structure or (None, CIF text) for a path or text."""
    if isinstance(item, Structure):
        return item, None
    if isinstance(item, Path) or (isinstance(item, str) and not _is_cif_text(item)):
        path = Path(item)
        if not path.is_file():
            raise ValueError(f"CIF file not found: {path}; pass an existing path or CIF text")
        return None, path.read_text(errors="replace")
    if isinstance(item, str):
        return None, item
    raise TypeError("expected a CIF path, CIF text or pymatgen Structure, got "
                    f"{type(item).__name__}")


def _parse_cif_text(text: str) -> Structure:
    """Parse CIF text with pymatgen and check that the result is a usable crystal."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_str(text, fmt="cif")
    except Exception as exc:  # noqa: BLE001 - pymatgen's CIF parser raises many types
        # (ValueError, KeyError, ZeroDivisionError, ...) on malformed text; all mean the same.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"not a parsable CIF ({reason})") from exc
    return _check_structure(structure)


def _check_structure(structure: Structure) -> Structure:
    if len(structure) == 0:
        raise ValueError("the structure has no sites")
    if not structure.is_ordered:
        raise ValueError("the structure is disordered (partial occupancies); order it first")
    if structure.volume <= 0 or not np.isfinite(structure.volume):
        raise ValueError(f"the cell volume is {structure.volume}; the lattice is degenerate")
    if len(structure) > 1:
        dmin = float(np.min(structure.distance_matrix[np.triu_indices(len(structure), 1)]))
        if dmin < 0.5:
            raise ValueError(f"two sites are {dmin:.2f} Å apart (< 0.5 Å); overlapping atoms")
    return structure


def parse_structure(item: Any) -> Structure:
    """Return the pymatgen ``Structure`` of a CIF path, CIF text or ``Structure``.

    Raises:
        ValueError: with the reason, if the file is missing, the text is not a parsable
            CIF, or the crystal is empty, disordered, degenerate or has overlapping atoms.
        TypeError: if the item is of another type.
    """
    structure, text = _read_item(item)
    if structure is not None:
        return _check_structure(structure)
    assert text is not None
    return _parse_cif_text(text)


def _content_bytes(item: Any) -> tuple[bytes, Structure | None, str | None]:
    """Return the bytes that identify an item, with its structure or CIF text."""
    structure, text = _read_item(item)
    if text is not None:
        return text.encode(), None, text
    assert structure is not None
    canonical = "|".join([
        np.array2string(structure.lattice.matrix, precision=6),
        " ".join(str(s) for s in structure.species),
        np.array2string(structure.frac_coords % 1.0, precision=6, threshold=10**9),
    ])
    return canonical.encode(), structure, None


def _element(site_specie: Any) -> Element:
    return site_specie if isinstance(site_specie, Element) else site_specie.element


def node_features(structure: Structure, roles: SiteRoles) -> np.ndarray:
    """Return per-site element features (one-hot group/row/block, scaled properties, role).

    Returns:
        ``n_sites x len(NODE_FEATURE_LABELS)`` float32.
    """
    out = np.zeros((len(structure), len(NODE_FEATURE_LABELS)), dtype=np.float32)
    for col, role in enumerate(("B", "X", "organic"), start=34):
        out[roles.of(role), col] = 1.0
    for i, site in enumerate(structure):
        element = _element(site.specie)
        z, row, group, x, radius, _, ie, ea = element_vector(element.symbol)
        if group >= 1:
            out[i, int(group) - 1] = 1.0
        if row >= 1:
            out[i, 18 + min(int(row), 7) - 1] = 1.0
        if element.block in _BLOCKS:
            out[i, 25 + _BLOCKS.index(element.block)] = 1.0
        out[i, 29:34] = [x / 4.0, radius / 2.0, ie / 20.0, ea / 4.0, z / 100.0]
    return out


class StructureFeaturizer(Featurizer):
    """Featurize crystal structures into descriptors and crystal graphs.

    Args:
        cache_dir: Folder for the on-disk cache (None: no cache).
        graph_cutoff: Neighbour cutoff (Å) of graph edges.
        graph_hydrogens: Keep hydrogen sites as graph nodes (False: heavy atoms only, about
            four times fewer edges for organic–inorganic crystals; the descriptors still
            see every site).
        n_gaussians: Number of Gaussians in the edge distance expansion.
        rdf_max: Largest radius (Å) of the partial radial distribution functions.
        rdf_bins: Number of radii per partial RDF (0 leaves the RDFs out: the HOIP
            research found them harmful to extrapolation to unseen halides).
        foundation: Append a pretrained foundation model's crystal feature vector to the
            descriptors: ``"chgnet"`` (64 columns ``chgnet_0`` ...; the optional extra
            ``pip install 'e2t-discovery[chgnet]'``), or None (descriptors only).
        progress: Show a progress bar over batches (hidden when not a TTY).
    """

    kind = "structure"

    def __init__(self, cache_dir: str | Path | None = None, *, graph_cutoff: float = 5.0,
                 graph_hydrogens: bool = True,
                 n_gaussians: int = 24, rdf_max: float = 8.0, rdf_bins: int = 14,
                 foundation: str | None = None, progress: bool = True) -> None:
        rules = [(graph_cutoff > 0, "graph_cutoff", graph_cutoff, "> 0"),
                 (n_gaussians >= 1, "n_gaussians", n_gaussians, ">= 1"),
                 (rdf_max > 1.5, "rdf_max", rdf_max, "> 1.5 (Å)"),
                 (rdf_bins == 0 or rdf_bins >= 2, "rdf_bins", rdf_bins, "0 (no RDFs) or >= 2")]
        for ok, key, value, rule in rules:
            if not ok:
                raise FeaturizationError(f"structure featurizer {key}={value} is invalid; "
                                         f"use {key} {rule}")
        if foundation is not None and foundation not in FOUNDATION_MODELS:
            raise FeaturizationError(f"structure featurizer foundation={foundation!r} is "
                                     f"unknown; use one of {', '.join(FOUNDATION_MODELS)} "
                                     "or leave it out")
        self.foundation = foundation
        # the installed model's version keys its cached features (checked here: a missing
        # extra fails at construction, i.e. at `e2t init`, not mid-screen)
        self._foundation_key = (f"{foundation}-{chgnet_version()}" if foundation == "chgnet"
                                else "")
        self.cache = FeatureCache(cache_dir) if cache_dir is not None else None
        self.graph_cutoff = float(graph_cutoff)
        self.graph_hydrogens = bool(graph_hydrogens)
        self.n_gaussians = int(n_gaussians)
        self.rdf_max = float(rdf_max)
        self.rdf_bins = int(rdf_bins)
        self.progress = progress
        self._labels = self._build_labels()

    # ----------------------------------------------------------------- settings
    def _settings(self, part: str) -> str:
        if part == "desc":
            return f"{FEATURIZER_VERSION};desc;rdf={self.rdf_max},{self.rdf_bins}"
        if part == "foundation":
            return f"{FEATURIZER_VERSION};foundation;{self._foundation_key}"
        return (f"{FEATURIZER_VERSION};graph;cutoff={self.graph_cutoff};H={self.graph_hydrogens};"
                f"gauss={self.n_gaussians};{self._settings('desc')}")

    def _build_labels(self) -> list[str]:
        labels = [f"comp_{p}_{s}" for p in ELEMENT_PROPERTIES for s in _STATS]
        labels += [f"site_B_{p}" for p in ELEMENT_PROPERTIES]
        labels += [f"site_X_{p}" for p in ELEMENT_PROPERTIES]
        labels += ["x_per_b", "organic_fraction", "volume_per_atom", "density",
                   "lattice_a", "lattice_b", "lattice_c", "lattice_cos_1", "lattice_cos_2",
                   "lattice_cos_3"]
        labels += OCTAHEDRA_LABELS + ORGANIC_LABELS
        if self.rdf_bins:
            radii = np.linspace(1.5, self.rdf_max, self.rdf_bins)
            labels += [f"rdf_{p}-{q}_{r:.2f}" for p, q in RDF_PAIRS for r in radii]
        if self.foundation == "chgnet":
            labels += [f"chgnet_{i}" for i in range(CHGNET_WIDTH)]
        return labels

    def feature_labels(self) -> list[str]:
        """Return one label per descriptor column."""
        return list(self._labels)

    # -------------------------------------------------------------- descriptors
    def featurize_one(self, item: Any) -> np.ndarray:
        """Return the feature vector of one structure: the descriptors, then the foundation
        model's features if ``foundation`` is set (each cached when ``cache_dir`` is set).

        Raises:
            ValueError: if the item is not a usable crystal structure (with the reason).
        """
        content, structure, text = _content_bytes(item)
        parts = ["desc", "foundation"] if self.foundation else ["desc"]
        keys = {part: content_key(content, self._settings(part)) for part in parts}
        values: dict[str, np.ndarray] = {}
        if self.cache is not None:
            for part in parts:
                hit = self.cache.get(keys[part], part)
                if hit is not None:
                    values[part] = hit["values" if part == "foundation" else "descriptors"]
        if len(values) < len(parts):
            if structure is None:
                assert text is not None
                structure = _parse_cif_text(text)
            else:
                structure = _check_structure(structure)
            if "desc" not in values:
                values["desc"] = self.descriptors(structure)
                if self.cache is not None:
                    self.cache.put(keys["desc"], "desc", {"descriptors": values["desc"]})
            if self.foundation and "foundation" not in values:
                values["foundation"] = chgnet_crystal_features([structure])[0]
                if self.cache is not None:
                    self.cache.put(keys["foundation"], "foundation",
                                   {"values": values["foundation"]})
        return np.concatenate([values[part] for part in parts]).astype(np.float32)

    def descriptors(self, structure: Structure) -> np.ndarray:
        """Compute the descriptors of a parsed structure (no cache; without the foundation
        model's columns).

        Returns:
            float32, all finite.
        """
        roles = site_roles(structure)
        comp = structure.composition.fractional_composition
        symbols = [el.symbol for el in comp.elements]
        props = np.array([element_vector(s) for s in symbols])  # n_el x n_prop
        weights = np.array([comp[s] for s in symbols])
        mean = weights @ props
        std = np.sqrt(weights @ (props - mean) ** 2)
        comp_stats = np.stack([mean, props.min(0), props.max(0), props.max(0) - props.min(0),
                               std], axis=1).ravel()
        site_b = self._mean_site_properties(structure, roles.b)
        site_x = self._mean_site_properties(structure, roles.x)
        n_b = max(len(roles.b), 1)
        reduced = structure.lattice.get_niggli_reduced_lattice()
        cell = [len(roles.x) / n_b, len(roles.organic) / len(structure),
                structure.volume / len(structure), float(structure.density),
                *sorted(reduced.abc), *sorted(np.abs(np.cos(np.radians(reduced.angles))))]
        values = np.concatenate([
            comp_stats, site_b, site_x, cell, octahedra_features(structure, roles),
            organic_features(structure, roles),
            partial_rdf(structure, roles, r_max=self.rdf_max, n_bins=self.rdf_bins)
            if self.rdf_bins else np.zeros(0),
        ]).astype(np.float32)
        if not np.all(np.isfinite(values)):
            bad = [self._labels[i] for i in np.flatnonzero(~np.isfinite(values))[:3]]
            raise ValueError(f"non-finite descriptors ({', '.join(bad)})")
        return values

    @staticmethod
    def _mean_site_properties(structure: Structure, sites: np.ndarray) -> np.ndarray:
        if len(sites) == 0:
            return np.zeros(len(ELEMENT_PROPERTIES))
        return np.mean([element_vector(_element(structure[int(i)].specie).symbol)
                        for i in sites], axis=0)

    def transform(self, items: Sequence[Any]) -> np.ndarray:
        """Featurize every structure; raise on the first bad one.

        Returns:
            ``n_items x n_features`` float32.

        Raises:
            FeaturizationError: naming the row and the item that failed.
        """
        return super().transform(self._progress(items, "structure descriptors"))

    def _progress(self, items: Sequence[Any], desc: str) -> Sequence[Any]:
        if not self.progress or len(items) < 20:
            return items
        return _SizedProgress(items, desc)

    # ------------------------------------------------------------------- graphs
    def graphs(self, items: Sequence[Any]) -> list[CrystalGraph]:
        """Return the crystal graph of every structure; raise on the first bad one.

        Raises:
            FeaturizationError: naming the row and the item that failed.
        """
        out = []
        for i, item in enumerate(self._progress(items, "crystal graphs")):
            try:
                out.append(self.graph_one(item))
            except (ValueError, TypeError, KeyError) as exc:
                raise FeaturizationError(f"invalid structure input: {exc}", row=i,
                                         item=item) from exc
        return out

    def graph_one(self, item: Any) -> CrystalGraph:
        """Return the crystal graph of one structure (cached when ``cache_dir`` is set)."""
        content, structure, text = _content_bytes(item)
        key = content_key(content, self._settings("graph"))
        if self.cache is not None:
            hit = self.cache.get(key, "graph")
            if hit is not None:
                return CrystalGraph.from_arrays(hit)
        if structure is None:
            assert text is not None
            structure = _parse_cif_text(text)
        else:
            structure = _check_structure(structure)
        graph = self.build_graph(structure, self.featurize_one(structure))
        if self.cache is not None:
            self.cache.put(key, "graph", graph.to_arrays())
        return graph

    def build_graph(self, structure: Structure, global_features: np.ndarray) -> CrystalGraph:
        """Build the crystal graph of a parsed structure.

        Edges: every ordered pair of sites (periodic images included) closer than
        ``graph_cutoff``; each undirected pair appears once per direction.

        Returns:
            The graph with ``n_sites`` nodes and Gaussian-expanded edge distances.
        """
        if not self.graph_hydrogens:
            heavy = [i for i, site in enumerate(structure) if _element(site.specie).symbol != "H"]
            if heavy and len(heavy) < len(structure):
                structure = Structure.from_sites([structure[i] for i in heavy])
        roles = site_roles(structure)
        centers, neighbors, images, dists = structure.get_neighbor_list(self.graph_cutoff)
        # Keep one orientation of each periodic pair, then add its reverse: symmetric by
        # construction even where floating-point noise sits at the cutoff.
        img_key = images @ np.array([1_000_000, 1_000, 1])
        forward = (centers < neighbors) | ((centers == neighbors) & (img_key > 0))
        src = np.concatenate([centers[forward], neighbors[forward]])
        dst = np.concatenate([neighbors[forward], centers[forward]])
        dist = np.concatenate([dists[forward], dists[forward]])
        mu = np.linspace(0.0, self.graph_cutoff, self.n_gaussians)
        width = mu[1] - mu[0] if self.n_gaussians > 1 else self.graph_cutoff
        edge_features = np.exp(-(((dist[:, None] - mu[None, :]) / width) ** 2))
        return CrystalGraph(
            node_features=node_features(structure, roles),
            edge_index=np.stack([src, dst]).astype(np.int64),
            edge_features=edge_features.astype(np.float32),
            global_features=np.asarray(global_features, dtype=np.float32),
        )


class _SizedProgress(Sequence[Any]):
    """A sequence wrapper that advances a progress display as it is iterated."""

    def __init__(self, items: Sequence[Any], desc: str) -> None:
        self._items = items
        self._desc = desc

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __iter__(self) -> Any:
        bar = progress_bar(len(self._items), desc=self._desc, unit="structures", leave=False)
        try:
            for item in self._items:
                yield item
                bar.update(1)
        finally:
            bar.close()

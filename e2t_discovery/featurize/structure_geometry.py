"""Geometry of metal-halide frameworks: the numbers behind the structure descriptors.

Every function takes a parsed pymatgen ``Structure`` and its site roles and returns a
small float64 vector with a fixed length, so that a descriptor row has the same layout
for every crystal. Neighbours come from ``Structure.get_neighbor_list`` (periodic images
included); nothing here re-implements crystallographic geometry that pymatgen provides.

Site roles: *B* sites are metals and metalloids (Ge, Sn, Pb, ...), *X* sites are
halogens and heavy chalcogens (the anions of the inorganic framework), *organic* sites are
everything else (H, C, N, O in the molecular cations).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pymatgen.core import Element, Species, Structure
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "SiteRoles",
    "site_roles",
    "element_vector",
    "ELEMENT_PROPERTIES",
    "octahedra_features",
    "OCTAHEDRA_LABELS",
    "organic_features",
    "ORGANIC_LABELS",
    "partial_rdf",
    "RDF_PAIRS",
    "anion_radius",
]

#: Element properties used for composition statistics and for B/X site descriptors.
ELEMENT_PROPERTIES: tuple[str, ...] = (
    "Z", "row", "group", "X", "atomic_radius", "atomic_mass", "ionization_energy",
    "electron_affinity",
)

_ANION_SYMBOLS = frozenset({"F", "Cl", "Br", "I", "At", "S", "Se", "Te"})
#: Pairs of site roles whose partial radial distribution functions are descriptors.
RDF_PAIRS: tuple[tuple[str, str], ...] = (("B", "X"), ("X", "X"), ("B", "B"), ("X", "organic"))
_N_OCT = 6  # sites of an octahedron


@lru_cache(maxsize=256)
def element_vector(symbol: str) -> tuple[float, ...]:
    """Return the :data:`ELEMENT_PROPERTIES` of an element (missing values as 0).

    Args:
        symbol: Element symbol, e.g. ``"Pb"``.

    Returns:
        ``len(ELEMENT_PROPERTIES)`` floats.
    """
    element = Element(symbol)
    values = []
    for name in ELEMENT_PROPERTIES:
        value = getattr(element, name, None)
        try:
            number = float(value) if value is not None else 0.0
        except (TypeError, ValueError):
            number = 0.0
        values.append(number if np.isfinite(number) else 0.0)
    return tuple(values)


@lru_cache(maxsize=64)
def anion_radius(symbol: str) -> float:
    """Return the ionic radius (Å) of the anion of an element, or its atomic radius."""
    element = Element(symbol)
    oxidation = min(element.common_oxidation_states or (-1,))
    radius = Species(symbol, oxidation).ionic_radius if oxidation < 0 else None
    if radius is None:
        radius = element.atomic_radius or 1.0
    return float(radius)


@dataclass(frozen=True)
class SiteRoles:
    """Indices of the sites of each role.

    Attributes:
        b: ``n_b`` int indices of metal/metalloid sites.
        x: ``n_x`` int indices of anion sites.
        organic: ``n_o`` int indices of the remaining (molecular) sites.
    """

    b: np.ndarray
    x: np.ndarray
    organic: np.ndarray

    def of(self, role: str) -> np.ndarray:
        """Return the indices of a role by name (``B``, ``X`` or ``organic``)."""
        return {"B": self.b, "X": self.x, "organic": self.organic}[role]


def site_roles(structure: Structure) -> SiteRoles:
    """Split the sites of a structure into B (metal), X (anion) and organic sites."""
    b, x, organic = [], [], []
    for i, site in enumerate(structure):
        element = site.specie if isinstance(site.specie, Element) else site.specie.element
        if element.symbol in _ANION_SYMBOLS:
            x.append(i)
        elif element.is_metal or element.is_metalloid:
            b.append(i)
        else:
            organic.append(i)
    return SiteRoles(np.array(b, dtype=int), np.array(x, dtype=int), np.array(organic, dtype=int))


OCTAHEDRA_LABELS: list[str] = (
    [f"bx_d{k + 1}" for k in range(_N_OCT)]
    + ["bx_mean", "bx_std", "bx_distortion_index", "bx_long_short_ratio",
       "xbx_cis_angle_dev", "bxb_angle_mean", "bxb_angle_min", "bxb_angle_max",
       "bxb_cos_mean", "xb2_over_xb1", "bb_nearest", "tolerance_factor", "octahedral_factor",
       "bx_coordination"]
)


def octahedra_features(structure: Structure, roles: SiteRoles) -> np.ndarray:
    """Describe the BX6 octahedra: bond lengths, distortion and B–X–B (tilt) angles.

    For each B site the six nearest X sites form its octahedron. The six sorted bond
    lengths (averaged over B sites) capture off-centring (e.g. three short and three long
    Ge–X bonds); the distortion index is ``mean(((d - d_mean) / d_mean)**2)``. For each
    octahedral X the two nearest B images give a B–X–B angle (180° = untilted corner
    sharing) and the ratio of the two distances (1 = a shared corner, large = an isolated
    octahedron). All values are 0 when the structure has no B or no X site.

    Returns:
        ``len(OCTAHEDRA_LABELS)`` float64.
    """
    out = np.zeros(len(OCTAHEDRA_LABELS))
    if len(roles.b) == 0 or len(roles.x) == 0:
        return out
    cutoff = 2.5 * max(anion_radius(structure[int(i)].specie.symbol) for i in roles.x) + 3.0
    centers, neighbors, images, dists = structure.get_neighbor_list(cutoff)
    coords = structure.cart_coords
    matrix = structure.lattice.matrix
    is_b = np.zeros(len(structure), dtype=bool)
    is_b[roles.b] = True
    is_x = np.zeros(len(structure), dtype=bool)
    is_x[roles.x] = True
    sorted_d, cis_dev, angles, ratios, coordination = [], [], [], [], []
    for b in roles.b:
        mask = (centers == b) & is_x[neighbors]
        order = np.argsort(dists[mask])[:_N_OCT]
        d = dists[mask][order]
        if len(d) == 0:
            continue
        vecs = coords[neighbors[mask][order]] + images[mask][order] @ matrix - coords[b]
        padded = np.concatenate([d, np.full(_N_OCT - len(d), d[-1])])
        sorted_d.append(padded)
        coordination.append(float(np.sum(dists[mask] < 1.25 * d[0])))
        unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        cos = np.clip(unit @ unit.T, -1.0, 1.0)
        ang = np.degrees(np.arccos(cos[np.triu_indices(len(d), 1)]))
        cis = ang[ang < 135.0]
        cis_dev.append(float(np.mean(np.abs(cis - 90.0))) if len(cis) else 0.0)
        for vec in vecs:
            x_pos = coords[b] + vec
            rel = _b_images_around(x_pos, structure, roles.b, matrix)
            rd = np.linalg.norm(rel, axis=1)
            first, second = np.argsort(rd)[:2]
            cos_bxb = float(np.dot(rel[first], rel[second]) / (rd[first] * rd[second]))
            angles.append(np.degrees(np.arccos(np.clip(cos_bxb, -1.0, 1.0))))
            ratios.append(rd[second] / rd[first])
    if not sorted_d:
        return out
    d_mat = np.mean(np.stack(sorted_d), axis=0)
    d_mean = float(np.mean(d_mat))
    all_d = np.concatenate(sorted_d)
    distortion = float(np.mean([np.mean(((r - r.mean()) / r.mean()) ** 2) for r in sorted_d]))
    ang_arr = np.asarray(angles)
    r_x = float(np.mean([anion_radius(structure[int(i)].specie.symbol) for i in roles.x]))
    r_b_eff = max(d_mean - r_x, 0.1)
    r_a_eff = organic_effective_radius(structure, roles)
    bb = _nearest_bb(structure, roles.b)
    out[:_N_OCT] = d_mat
    out[_N_OCT:] = [
        d_mean, float(np.std(all_d)), distortion, float(d_mat[3:].mean() / d_mat[:3].mean()),
        float(np.mean(cis_dev)), float(ang_arr.mean()), float(ang_arr.min()), float(ang_arr.max()),
        float(np.mean(np.cos(np.radians(ang_arr)))), float(np.mean(ratios)), bb,
        (r_a_eff + r_x) / (np.sqrt(2.0) * d_mean), r_b_eff / r_x, float(np.mean(coordination)),
    ]
    return out


def _b_images_around(point: np.ndarray, structure: Structure, b_sites: np.ndarray,
                     matrix: np.ndarray) -> np.ndarray:
    """Return vectors from ``point`` to the B sites' images in the 27 surrounding cells.

    Returns:
        ``(27 * n_b) x 3`` float64 Cartesian vectors.
    """
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    frac = structure.frac_coords[b_sites]
    # Wrap B sites into the cell nearest the point, then add the 27 shifts.
    point_frac = structure.lattice.get_fractional_coords(point)
    frac = frac - np.round(frac - point_frac)
    all_frac = (frac[:, None, :] + shifts[None, :, :]).reshape(-1, 3)
    return all_frac @ matrix - point


def _nearest_bb(structure: Structure, b_sites: np.ndarray) -> float:
    """Return the mean distance (Å) from each B site to its nearest other B (image)."""
    matrix = structure.lattice.matrix
    nearest = []
    for b in b_sites:
        rel = _b_images_around(structure.cart_coords[b], structure, b_sites, matrix)
        d = np.linalg.norm(rel, axis=1)
        nearest.append(float(np.min(d[d > 1e-6])))
    return float(np.mean(nearest))


ORGANIC_LABELS: list[str] = [
    "org_heavy_per_b", "org_h_per_b", "org_n_molecules_per_b", "org_max_extent",
    "org_radius_gyration", "org_effective_radius", "volume_per_b", "free_volume_per_b",
]


def _molecules(structure: Structure, organic: np.ndarray) -> list[np.ndarray]:
    """Return the Cartesian coordinates of each organic molecule, unwrapped across cells.

    Bonds are organic–organic neighbour pairs closer than 1.9 Å; atoms are unwrapped by a
    breadth-first walk over the bonds so that a molecule cut by the cell boundary is whole.
    """
    if len(organic) == 0:
        return []
    centers, neighbors, images, _ = structure.get_neighbor_list(1.9, sites=[
        structure[int(i)] for i in organic])
    # get_neighbor_list with `sites` returns centre indices into `sites`.
    is_org = np.zeros(len(structure), dtype=bool)
    is_org[organic] = True
    keep = is_org[neighbors]
    centers, neighbors, images = organic[centers[keep]], neighbors[keep], images[keep]
    pos = {int(s): k for k, s in enumerate(organic)}
    n = len(organic)
    rows = [pos[int(c)] for c in centers]
    cols = [pos[int(t)] for t in neighbors]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    adjacency: dict[int, list[tuple[int, np.ndarray]]] = {k: [] for k in range(n)}
    for r, c, img in zip(rows, cols, images, strict=True):
        adjacency[r].append((c, img))
    frac = structure.frac_coords[organic]
    molecules = []
    for comp in range(n_comp):
        members = np.flatnonzero(labels == comp)
        unwrapped = {int(members[0]): frac[members[0]]}
        queue = [int(members[0])]
        while queue:
            current = queue.pop()
            for nxt, img in adjacency[current]:
                if nxt not in unwrapped:
                    unwrapped[nxt] = frac[nxt] + img + (unwrapped[current] - frac[current])
                    queue.append(nxt)
        molecules.append(structure.lattice.get_cartesian_coords(np.stack(list(unwrapped.values()))))
    return molecules


def organic_effective_radius(structure: Structure, roles: SiteRoles) -> float:
    """Return an effective A-cation radius (Å): half the largest molecular extent + 1.2 Å."""
    molecules = _molecules(structure, roles.organic)
    if not molecules:
        return 0.0
    extents = [_extent(m) for m in molecules]
    return float(np.mean(extents)) / 2.0 + 1.2


def _extent(coords: np.ndarray) -> float:
    """Return the largest interatomic distance within one molecule (0 for one atom)."""
    if len(coords) < 2:
        return 0.0
    diff = coords[:, None, :] - coords[None, :, :]
    return float(np.sqrt((diff**2).sum(-1)).max())


def organic_features(structure: Structure, roles: SiteRoles) -> np.ndarray:
    """Describe the organic cations: size per B site, extent and the space they fill.

    Returns:
        ``len(ORGANIC_LABELS)`` float64.
    """
    n_b = max(len(roles.b), 1)
    symbols = [structure[int(i)].specie.symbol for i in roles.organic]
    n_h = sum(1 for s in symbols if s == "H")
    molecules = _molecules(structure, roles.organic)
    extents = [_extent(m) for m in molecules] or [0.0]
    gyration = [float(np.sqrt(((m - m.mean(0)) ** 2).sum(1).mean())) for m in molecules] or [0.0]
    volume_per_b = structure.volume / n_b
    inorganic_volume = sum(
        4.0 / 3.0 * np.pi * (anion_radius(structure[int(i)].specie.symbol) ** 3)
        for i in roles.x) / n_b
    return np.array([
        (len(symbols) - n_h) / n_b, n_h / n_b, len(molecules) / n_b, float(np.mean(extents)),
        float(np.mean(gyration)), float(np.mean(extents)) / 2.0 + 1.2, volume_per_b,
        volume_per_b - inorganic_volume,
    ])


def partial_rdf(structure: Structure, roles: SiteRoles, *, r_min: float = 1.5,
                r_max: float = 8.0, n_bins: int = 14, sigma: float = 0.2) -> np.ndarray:
    """Gaussian-smeared partial radial distribution functions of the :data:`RDF_PAIRS`.

    Each pair (P, Q) gives the smeared number of Q neighbours per P site at ``n_bins``
    radii evenly spaced in ``[r_min, r_max]``; it is 0 where a role is absent.

    Returns:
        ``len(RDF_PAIRS) * n_bins`` float64.
    """
    radii = np.linspace(r_min, r_max, n_bins)
    centers, neighbors, _, dists = structure.get_neighbor_list(r_max + 3 * sigma)
    out = []
    for first, second in RDF_PAIRS:
        p, q = roles.of(first), roles.of(second)
        if len(p) == 0 or len(q) == 0:
            out.append(np.zeros(n_bins))
            continue
        mask = np.isin(centers, p) & np.isin(neighbors, q)
        d = dists[mask]
        smeared = np.exp(-0.5 * ((radii[None, :] - d[:, None]) / sigma) ** 2).sum(0)
        out.append(smeared / (len(p) * sigma * np.sqrt(2 * np.pi)))
    return np.concatenate(out)

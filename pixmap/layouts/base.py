"""What every layout returns, and the normalisation the site uses."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Layout:
    """One arrangement of the collection.

    positions: (n, dims) float32 in the layout's own units (saved as artifacts/layout_<name>.npy).
    labels: text to draw, [{"text": str, "x": float, "y": float(, "z": float)}] in the same units.
    lines: polylines drawn beneath the images, each an (m, 2) array in the same units.
    point_size: suggested width of one image in the same units (None: the viewer decides).
    """
    name: str
    label: str
    positions: np.ndarray
    labels: list[dict] = field(default_factory=list)
    lines: list[np.ndarray] = field(default_factory=list)
    point_size: float | None = None
    group: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def dims(self) -> int:
        return int(self.positions.shape[1])


def normalise(layout: Layout) -> Layout:
    """Centre the layout on 0 and scale it so its larger extent spans [-1, 1], aspect kept.

    Labels, lines and point_size move with the points, so they stay where they belong.
    """
    pos = np.asarray(layout.positions, dtype=np.float64)
    finite = np.isfinite(pos).all(axis=1)
    if not finite.any():
        raise ValueError(f"layout {layout.name!r} has no finite positions")
    lo, hi = pos[finite].min(axis=0), pos[finite].max(axis=0)
    for line in layout.lines:
        lo[:2] = np.minimum(lo[:2], line.min(axis=0))
        hi[:2] = np.maximum(hi[:2], line.max(axis=0))
    for lab in layout.labels:  # labels (block titles, years) must stay inside the framed area too
        for i, key in enumerate("xyz"[: layout.dims]):
            if key in lab and np.isfinite(lab[key]):
                lo[i], hi[i] = min(lo[i], lab[key]), max(hi[i], lab[key])
    centre = (lo + hi) / 2
    extent = float((hi - lo).max()) / 2 or 1.0

    def tx(a, axes=slice(None)):
        return (np.asarray(a, dtype=np.float64) - centre[axes]) / extent

    labels = []
    for lab in layout.labels:
        lab = dict(lab)
        for i, key in enumerate("xyz"[: layout.dims]):
            if key in lab:
                lab[key] = float((lab[key] - centre[i]) / extent)
        labels.append(lab)
    return Layout(
        name=layout.name, label=layout.label,
        positions=tx(pos).astype(np.float32),
        labels=labels,
        lines=[tx(line, slice(0, 2)).astype(np.float32) for line in layout.lines],
        point_size=None if layout.point_size is None else float(layout.point_size / extent),
        group=layout.group, params=dict(layout.params),
    )

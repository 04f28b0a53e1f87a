"""Binary PLY point clouds: ``x y z`` (float32), ``red green blue`` (uint8) and optional scalar fields.

MeshLab, CloudCompare, Blender, Open3D and trimesh read this layout; Gaussian-splatting trainers
that initialise from a PLY (e.g. nerfstudio's ``ply_file_path``) expect exactly these names.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["write_ply"]


def write_ply(
    path: str | os.PathLike,
    points: np.ndarray,
    colors: np.ndarray | None = None,
    scalars: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``points [P, 3]``, ``colors [P, 3]`` uint8 and per-point float ``scalars {name: [P]}``.

    Returns the path. Non-finite points are an error (readers choke on them).
    """
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    n = len(points)
    if not np.isfinite(points).all():
        raise ValueError(f"{path}: refusing to write non-finite points")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != (n, 3):
            raise ValueError(f"colors must be [{n}, 3], got {colors.shape}")
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    scalars = scalars or {}
    for name, values in scalars.items():
        if np.shape(values) != (n,):
            raise ValueError(f"scalar field {name!r} must be [{n}], got {np.shape(values)}")
        fields.append((name, "<f4"))
    rows = np.zeros(n, dtype=fields)
    rows["x"], rows["y"], rows["z"] = points.T
    if colors is not None:
        rows["red"], rows["green"], rows["blue"] = colors.astype(np.uint8).T
    for name, values in scalars.items():
        rows[name] = values
    kinds = {"<f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property {kinds[dtype]} {name}" for name, dtype in fields]
    header.append("end_header")
    path = Path(path)
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(rows.tobytes())
    return path

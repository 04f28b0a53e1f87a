"""Camera models and checks for the synthetic engine.

Conventions: OpenCV camera (x right, y down, z forward), world-to-camera ``x_cam = R @ x_world + t``,
world z up. ``K`` has the centre of pixel (column u, row v) at (u, v).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openvggt.data.synth.render import Camera, SceneGeometry, trace_rays

# Image aspect ratios (width / height) a scene draws from, with their probabilities: mostly
# landscape as in most captures, some square and portrait.
ASPECTS = {4 / 3: 0.25, 3 / 2: 0.15, 16 / 9: 0.25, 1.0: 0.1, 3 / 4: 0.15, 9 / 16: 0.1}


@dataclass(frozen=True)
class Intrinsics:
    K: np.ndarray  # [3, 3]
    width: int
    height: int


def sample_intrinsics(rng: np.random.Generator, size: int, fov_range=(40.0, 100.0)) -> Intrinsics:
    """Random pinhole intrinsics: longer image side ``size`` px, field of view over that side drawn
    from ``fov_range`` degrees, a random aspect from :data:`ASPECTS`, principal point near the centre."""
    aspect = float(rng.choice(list(ASPECTS), p=list(ASPECTS.values())))
    if aspect >= 1:
        width, height = size, max(8, int(round(size / aspect)))
    else:
        width, height = max(8, int(round(size * aspect))), size
    fov = np.radians(rng.uniform(*fov_range))
    f = 0.5 * size / np.tan(fov / 2)
    cx = (width - 1) / 2 + rng.uniform(-0.02, 0.02) * width
    cy = (height - 1) / 2 + rng.uniform(-0.02, 0.02) * height
    K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    return Intrinsics(K, width, height)


def look_at(centre, target, roll: float = 0.0, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera ``R [3, 3]``, ``t [3]`` of a camera at ``centre`` looking at ``target``,
    rotated by ``roll`` radians about its viewing axis."""
    centre = np.asarray(centre, np.float64)
    fwd = np.asarray(target, np.float64) - centre
    fwd /= np.linalg.norm(fwd)
    up = np.asarray(up, np.float64)
    if abs(fwd @ up) > 0.999:
        up = np.array([0.0, 1.0, 0.0])
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c, s = np.cos(roll), np.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    R = np.stack([right, down, fwd])  # rows: camera axes in world coordinates
    return R, -R @ centre


def make_camera(intr: Intrinsics, centre, target, roll: float = 0.0) -> Camera:
    R, t = look_at(centre, target, roll)
    return Camera(intr.K, R, t, intr.width, intr.height)


def probe_grid(cam: Camera, nx: int = 12, ny: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Ray components ``dx, dy [ny * nx]`` through a coarse grid of pixels covering the image."""
    u = (np.arange(nx) + 0.5) * cam.width / nx - 0.5
    v = (np.arange(ny) + 0.5) * cam.height / ny - 0.5
    uu, vv = np.meshgrid(u, v)
    K = cam.K
    return ((uu - K[0, 2]) / K[0, 0]).ravel(), ((vv - K[1, 2]) / K[1, 1]).ravel()


def probe_points(scene: SceneGeometry, cam: Camera, nx: int = 12, ny: int = 9):
    """Depths ``[M]`` (inf = sky) along a coarse pixel grid and the world points ``[M, 3]`` hit."""
    dx, dy = probe_grid(cam, nx, ny)
    depth, _ = trace_rays(scene, cam, dx, dy)
    pts_cam = np.stack([dx, dy, np.ones_like(dx)], axis=1) * np.where(np.isfinite(depth), depth, 0)[:, None]
    return depth, (pts_cam - cam.t) @ cam.R  # R^T (x - t), row-wise


def visible_fraction(scene: SceneGeometry, points: np.ndarray, cam: Camera, rel_tol: float = 1e-3) -> float:
    """Fraction of world ``points [M, 3]`` that ``cam`` sees inside its image and unoccluded."""
    if len(points) == 0:
        return 0.0
    pc = points @ cam.R.T + cam.t
    z = pc[:, 2]
    front = z > 1e-3
    zz = np.where(front, z, 1.0)
    u = cam.K[0, 0] * pc[:, 0] / zz + cam.K[0, 2]
    v = cam.K[1, 1] * pc[:, 1] / zz + cam.K[1, 2]
    inside = front & (u >= -0.5) & (u <= cam.width - 0.5) & (v >= -0.5) & (v <= cam.height - 0.5)
    if not np.any(inside):
        return 0.0
    depth, _ = trace_rays(scene, cam, pc[inside, 0] / z[inside], pc[inside, 1] / z[inside])
    seen = np.abs(depth - z[inside]) <= rel_tol * z[inside]
    return float(seen.sum() / len(points))


@dataclass(frozen=True)
class ViewRules:
    """What makes a camera pose acceptable."""

    min_depth: float = 0.25  # nearest surface over the probe grid, metres
    max_sky: float = 0.6  # fraction of probe rays that may see nothing
    min_overlap: float = 0.15  # fraction of frame 0's probe points this frame must see


def view_ok(scene: SceneGeometry, cam: Camera, rules: ViewRules, ref_points: np.ndarray | None) -> bool:
    """Checks a pose: clear of surfaces, not mostly sky, and overlapping frame 0 (``ref_points``)."""
    centre = cam.centre
    if any(p.contains(centre, margin=0.05) for p in scene.primitives):
        return False
    depth, _ = probe_points(scene, cam, 8, 6)
    hit = np.isfinite(depth)
    if hit.mean() < 1 - rules.max_sky or (np.any(hit) and depth[hit].min() < rules.min_depth):
        return False
    return ref_points is None or visible_fraction(scene, ref_points, cam) >= rules.min_overlap

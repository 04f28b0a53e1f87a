"""A vectorised numpy ray caster for scenes of analytic primitives.

Why a ray caster: with rays ``(dx, dy, 1)`` in camera coordinates the hit parameter *is* the z-depth,
so depth, point maps and reprojections are exact to float precision; it needs no GPU, no OpenGL
context and no extra dependency; and pinhole rays separate into a row part and a column part, so a
primitive costs a handful of broadcast numpy operations over the pixels its projected bounding box
covers. Shading is Lambertian (view independent), so a surface point has the same colour in every
frame up to the per-frame exposure and white balance that are applied on purpose.

Conventions: OpenCV camera (x right, y down, z forward), ``x_cam = R @ x_world + t``, ``K`` in pixels
with the centre of pixel (column u, row v) at (u, v). Colours are linear (sRGB squared) inside the
renderer and sRGB uint8 on output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openvggt.data.synth.primitives import QUAD, Primitive, intersect, surface
from openvggt.data.synth.shadows import occluded
from openvggt.data.synth.textures import Texture

NEAR = 1e-3
# Sample offsets in pixels; sample 0 is always the pixel centre (it gives the depth map).
SAMPLE_PATTERNS = {
    1: np.zeros((1, 2)),
    # centre + rotated-grid 4x: good on near-horizontal and near-vertical edges.
    5: np.array([[0, 0], [0.125, 0.375], [0.375, -0.125], [-0.125, -0.375], [-0.375, 0.125]]),
    9: np.array([[0, 0]] + [[x, y] for x in (-1 / 3, 0, 1 / 3) for y in (-1 / 3, 0, 1 / 3) if x or y]),
}


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: ``K [3, 3]`` (zero skew), world-to-camera ``R [3, 3]``, ``t [3]``, image size."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    @property
    def centre(self) -> np.ndarray:
        """Camera centre in world coordinates ``[3]``."""
        return -self.R.T @ self.t


@dataclass(frozen=True)
class Material:
    """A textured Lambertian material; ``tile`` is the size in metres of one texture repeat."""

    texture: Texture
    tile: tuple[float, float] = (1.0, 1.0)
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # linear multiplier on the albedo
    offset: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Lighting:
    """Hemispheric ambient light plus directional and point lights (linear RGB, world frame)."""

    up: np.ndarray  # [3] world up direction
    sky_ambient: np.ndarray  # [3] ambient from above
    ground_ambient: np.ndarray  # [3] ambient from below
    directional: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # (direction towards light [3], rgb [3])
    points: tuple[tuple[np.ndarray, np.ndarray, float], ...] = ()  # (position [3], rgb [3], falloff m)


@dataclass(frozen=True)
class Sky:
    """Colour of rays that hit nothing (depth 0): a gradient with optional clouds (linear RGB)."""

    horizon: np.ndarray
    zenith: np.ndarray
    clouds: Texture | None = None
    cloud_scale: float = 0.5
    cloud_cover: float = 0.5


@dataclass(frozen=True)
class SceneGeometry:
    primitives: tuple[Primitive, ...]
    materials: tuple[Material, ...]
    lighting: Lighting
    sky: Sky | None = None
    shadows: bool = True  # the first directional light casts hard shadows
    corners: tuple[np.ndarray, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.corners:
            object.__setattr__(self, "corners", tuple(p.corners() for p in self.primitives))


@dataclass(frozen=True)
class Photometric:
    """Per-frame camera response: exposure gain, white balance ``[3]`` and sensor noise std."""

    exposure: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise: float = 0.0
    seed: int = 0


# ----------------------------------------------------------------------------------- ray casting
def _pixel_box(corners_cam: np.ndarray, K: np.ndarray, width: int, height: int):
    """Pixel window ``(y0, y1, x0, x1)`` that holds the projection of a primitive, or None if unseen."""
    z = corners_cam[:, 2]
    if np.all(z <= NEAR):
        return None
    if np.any(z <= NEAR):
        return 0, height, 0, width
    u = K[0, 0] * corners_cam[:, 0] / z + K[0, 2]
    v = K[1, 1] * corners_cam[:, 1] / z + K[1, 2]
    x0, x1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, width)
    y0, y1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def _to_camera(prim: Primitive, cam: Camera):
    return cam.R @ prim.centre + cam.t, cam.R @ prim.axes


def trace_grid(scene: SceneGeometry, cam: Camera, offsets: np.ndarray):
    """Closest hits for every pixel and sample.

    Returns ``depth [n, H, W]`` float32 (inf where nothing is hit), ``index [n, H, W]`` int32
    (primitive index, -1 for sky), and the ray components ``dx [n, 1, W]``, ``dy [n, H, 1]``.
    """
    K = cam.K
    cols = np.arange(cam.width, dtype=np.float64)[None, :] + offsets[:, :1]
    rows = np.arange(cam.height, dtype=np.float64)[None, :] + offsets[:, 1:]
    dx = ((cols - K[0, 2]) / K[0, 0]).astype(np.float32)[:, None, :]
    dy = ((rows - K[1, 2]) / K[1, 1]).astype(np.float32)[:, :, None]
    n = len(offsets)
    depth = np.full((n, cam.height, cam.width), np.inf, np.float32)
    index = np.full((n, cam.height, cam.width), -1, np.int32)
    for k, prim in enumerate(scene.primitives):
        box = _pixel_box(scene.corners[k] @ cam.R.T + cam.t, K, cam.width, cam.height)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        c, A = _to_camera(prim, cam)
        t = intersect(prim.kind, c, A, prim.half, dx[:, :, x0:x1], dy[:, y0:y1, :], NEAR)
        d_win = depth[:, y0:y1, x0:x1]
        better = t < d_win
        np.copyto(d_win, t, where=better)
        np.copyto(index[:, y0:y1, x0:x1], k, where=better)
    return depth, index, dx, dy


def trace_rays(scene: SceneGeometry, cam: Camera, dx: np.ndarray, dy: np.ndarray):
    """Closest hits along arbitrary forward rays ``(dx, dy, 1)`` (``[M]`` each) of camera ``cam``.

    Returns ``depth [M]`` (inf where nothing is hit) and ``index [M]`` like :func:`trace_grid`.
    """
    dx = np.asarray(dx, np.float32)
    dy = np.asarray(dy, np.float32)
    depth = np.full(dx.shape, np.inf, np.float32)
    index = np.full(dx.shape, -1, np.int32)
    for k, prim in enumerate(scene.primitives):
        if np.all((scene.corners[k] @ cam.R.T + cam.t)[:, 2] <= NEAR):
            continue
        c, A = _to_camera(prim, cam)
        t = intersect(prim.kind, c, A, prim.half, dx, dy, NEAR)
        better = t < depth
        depth[better] = t[better]
        index[better] = k
    return depth, index


# -------------------------------------------------------------------------------------- shading
# Everything below works on planar arrays ``[3, M]`` (one row per coordinate or channel): numpy is
# several times faster on long rows than on ``[M, 3]``.
def _lights_in_camera(lighting: Lighting, cam: Camera):
    R = cam.R
    up = (R @ lighting.up).astype(np.float32)
    dirs = [
        ((R @ d / np.linalg.norm(d)).astype(np.float32), np.asarray(c, np.float32)) for d, c in lighting.directional
    ]
    points = [((R @ p + cam.t).astype(np.float32), np.asarray(c, np.float32), f) for p, c, f in lighting.points]
    return up, dirs, points


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise dot product of planar ``[3, M]`` arrays (faster than ``(a * b).sum(0)``)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _shade(normal, p, albedo, lighting: Lighting, lights, sun_visible=None) -> np.ndarray:
    """Lambertian radiance ``[3, M]`` for camera-frame normals, points and albedo, all ``[3, M]``;
    ``sun_visible [M]`` scales the first directional light (shadows)."""
    up, dirs, points = lights
    hemi = np.float32(0.5) + np.float32(0.5) * (up @ normal)
    lo = np.asarray(lighting.ground_ambient, np.float32)[:, None]
    hi = np.asarray(lighting.sky_ambient, np.float32)[:, None]
    irr = lo + (hi - lo) * hemi
    for i, (d, rgb) in enumerate(dirs):
        cos = np.maximum(d @ normal, 0)
        if i == 0 and sun_visible is not None:
            cos = cos * sun_visible
        irr = irr + cos * rgb[:, None]
    for pos, rgb, falloff in points:
        to_l = pos[:, None] - p
        dist2 = to_l[0] * to_l[0] + to_l[1] * to_l[1] + to_l[2] * to_l[2]
        cos = np.maximum(_rowdot(to_l, normal), 0) / np.sqrt(dist2 + np.float32(1e-12))
        irr = irr + (cos / (1 + dist2 / np.float32(falloff**2))) * rgb[:, None]
    return albedo * irr


def _albedo(mat: Material, uv: np.ndarray, pix_size: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """Linear albedo ``[3, M]`` from the material at surface coords ``uv [2, M]`` (metres).

    ``pix_size [M]``: metres one sample spacing covers at the hit; ``cos [M]``: |cos| of the
    incidence angle. The mip level matches the texel size to the (partly anisotropic) footprint.
    """
    tex = mat.texture
    s = uv[0] * np.float32(1 / mat.tile[0]) + np.float32(mat.offset[0])
    t = uv[1] * np.float32(1 / mat.tile[1]) + np.float32(mat.offset[1])
    texel = min(mat.tile[0] / tex.widths[0], mat.tile[1] / tex.heights[0])
    footprint = pix_size / np.sqrt(np.maximum(cos, np.float32(0.05))) * np.float32(1 / texel)
    level = np.floor(np.log2(np.maximum(footprint, 1)) + np.float32(0.5)).astype(np.int32)
    rgb = tex.sample(s, t, level)
    return rgb * rgb * np.asarray(mat.tint, np.float32)[:, None]


def _sky_colour(sky: Sky | None, dirs: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Linear sky radiance ``[3, M]`` for unit world directions ``[3, M]``."""
    if sky is None:
        return np.zeros_like(dirs)
    e = up.astype(np.float32) @ dirs
    w = np.sqrt(np.clip(e, 0, 1))
    col = sky.horizon[:, None] * (1 - w) + sky.zenith[:, None] * w
    ok = e > 0.02
    if sky.clouds is not None and np.any(ok):
        # Clouds on a plane above the world: direction-only, hence the same in every frame.
        a = np.cross(up, [1.0, 0, 0] if abs(up[0]) < 0.9 else [0, 1.0, 0])
        a /= np.linalg.norm(a)
        b = np.cross(up, a)
        proj = dirs[:, ok] / e[ok] * np.float32(sky.cloud_scale)
        level = np.zeros(int(ok.sum()), np.int32)
        dens = sky.clouds.sample(a.astype(np.float32) @ proj, b.astype(np.float32) @ proj, level)[0]
        cover = np.clip((dens - (1 - sky.cloud_cover)) * 3, 0, 1) * np.minimum(e[ok] * 8, 1)
        white = np.float32(0.9 * max(sky.horizon.max(), 0.6))
        col[:, ok] = col[:, ok] * (1 - cover) + white * cover
    return col


def shade_grid(scene: SceneGeometry, cam: Camera, depth, index, dx, dy) -> np.ndarray:
    """Linear radiance ``[3, n, H, W]`` for the hits of :func:`trace_grid`.

    Rays are sorted by primitive once, so each primitive fills a contiguous slice of the surface
    attributes (views, not gathers); shadows and lighting then run once over all hits, and the
    result is scattered back in one go. Shadows are traced from each pixel's centre sample and
    shared by its other samples.
    """
    n, H, W = depth.shape
    flat_index = index.reshape(-1)
    lights = _lights_in_camera(scene.lighting, cam)
    f = 0.5 * (cam.K[0, 0] + cam.K[1, 1]) * np.sqrt(n)  # samples per unit image-plane length
    order = np.argsort(flat_index, kind="stable")
    bounds = np.searchsorted(flat_index[order], np.arange(-1, len(scene.primitives) + 1))
    N, first_hit = len(order), int(bounds[1])
    d_all = np.ones((3, N), np.float32)
    d_all[0] = np.take(np.broadcast_to(dx, (n, H, W)).reshape(-1), order)
    d_all[1] = np.take(np.broadcast_to(dy, (n, H, W)).reshape(-1), order)
    len_all = np.sqrt(d_all[0] * d_all[0] + d_all[1] * d_all[1] + 1)
    p_all = d_all * depth.reshape(-1)[order]
    normal_all = np.empty((3, N), np.float32)
    albedo_all = np.empty((3, N), np.float32)
    sorted_rad = np.empty((3, N), np.float32)
    if first_hit:
        dirs = cam.R.T.astype(np.float32) @ (d_all[:, :first_hit] / len_all[:first_hit])
        sorted_rad[:, :first_hit] = _sky_colour(scene.sky, dirs, scene.lighting.up)
    for k, prim in enumerate(scene.primitives):
        lo, hi = bounds[k + 1], bounds[k + 2]
        if lo == hi:
            continue
        d, ray_len, p = d_all[:, lo:hi], len_all[lo:hi], p_all[:, lo:hi]
        c, A = _to_camera(prim, cam)
        normal, uv = surface(prim.kind, c, A, prim.half, p)
        cos = _rowdot(normal, d) / ray_len
        if prim.kind == QUAD:  # two-sided: light the side facing the camera
            normal = normal * -np.sign(cos)
        normal_all[:, lo:hi] = normal
        z = p[2]
        albedo_all[:, lo:hi] = _albedo(scene.materials[prim.material], uv, z * ray_len * np.float32(1 / f), np.abs(cos))
    hits = slice(first_hit, N)
    sun = _sun_visibility(scene, cam, lights, p_all[:, hits], normal_all[:, hits], order[hits], H * W)
    sorted_rad[:, hits] = _shade(normal_all[:, hits], p_all[:, hits], albedo_all[:, hits], scene.lighting, lights, sun)
    radiance = np.empty((3, N), np.float32)
    for ch in range(3):  # one channel at a time: several times faster than radiance[:, order] = ...
        radiance[ch][order] = sorted_rad[ch]
    return radiance.reshape(3, n, H, W)


def _sun_visibility(scene: SceneGeometry, cam: Camera, lights, p, normal, ray_ids, pixels: int):
    """``[M]`` float32 1 where the first directional light reaches hit points ``p [3, M]``, else 0."""
    if not scene.shadows or not lights[1] or p.shape[1] == 0:
        return None
    sun = lights[1][0][0]
    centre = ray_ids < pixels  # sample 0 of each pixel is its centre ray
    facing = centre & (sun @ normal > 0)  # points facing away are unlit anyway
    occluders, boxes = [], []
    for k, prim in enumerate(scene.primitives):
        if prim.casts_shadow:
            c, A = _to_camera(prim, cam)
            occluders.append((prim, c, A))
            boxes.append(scene.corners[k] @ cam.R.T + cam.t)
    # Offset the origins off the surface so that a surface does not shadow itself.
    origins = p[:, facing] + normal[:, facing] * (np.float32(1e-4) * p[2, facing] + np.float32(1e-5))
    dark = np.zeros(pixels, bool)
    dark[ray_ids[facing]] = occluded(origins, sun.astype(np.float64), occluders, boxes)
    return (~dark[ray_ids % pixels]).astype(np.float32)


def develop(radiance: np.ndarray, photo: Photometric) -> np.ndarray:
    """Camera response: planar linear ``[3, H, W]`` -> sRGB uint8 ``[H, W, 3]`` with exposure, white balance, soft
    highlight roll-off and sensor noise."""
    x = radiance * (photo.exposure * np.asarray(photo.white_balance, np.float32))[:, None, None]
    knee = np.float32(0.8)
    x = np.where(x > knee, knee + (1 - knee) * np.tanh((x - knee) / (1 - knee)), x)
    out = np.sqrt(np.maximum(x, 0))
    if photo.noise > 0:
        rng = np.random.default_rng(photo.seed)
        out = out + rng.normal(0, photo.noise, out.shape).astype(np.float32)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()


def render(scene: SceneGeometry, cam: Camera, photo: Photometric = Photometric(), samples: int = 5):
    """Render one frame.

    Returns ``image [H, W, 3]`` uint8 sRGB (the mean of ``samples`` rays per pixel) and
    ``depth [H, W]`` float32 z-depth of the ray through each pixel centre, 0 where it hits nothing.
    """
    offsets = SAMPLE_PATTERNS[samples]
    depth, index, dx, dy = trace_grid(scene, cam, offsets)
    radiance = shade_grid(scene, cam, depth, index, dx, dy).mean(axis=1)
    image = develop(radiance, photo)
    z = depth[0]
    return image, np.where(np.isfinite(z), z, 0).astype(np.float32)

"""Scene families of the synthetic engine: layouts and the camera paths that film them.

* ``indoor``: a furnished room, a camera looking around from a region of the floor;
* ``object``: objects on a table or the floor, cameras orbiting them on an arc (like Co3D);
* ``street``: a street with a ground plane, facades, trees, cars and sky, wide-baseline views;
* ``video``: a room or a street filmed by a camera moving forward with small steps;
* ``long_video``: a long walk (hundreds to thousands of frames) around a loop in a furnished room, several
  laps, so that later frames revisit earlier views (for chunking and loop closure).

Every family function takes a random generator, the number of frames and the scene's intrinsics
and returns the scene geometry and one camera per frame. Every frame sees part of what frame 0
sees (checked by ray casting, see :func:`openvggt.data.synth.cameras.view_ok`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from openvggt.data.synth.builder import (
    FURNITURE,
    FURNITURE_HALF,
    Footprint,
    SceneBuilder,
    add_table,
    add_tabletop_object,
)
from openvggt.data.synth.cameras import Intrinsics, ViewRules, make_camera, probe_points, view_ok
from openvggt.data.synth.render import Camera, Lighting, SceneGeometry, Sky
from openvggt.data.synth.textures import procedural_texture

FAMILIES = ("indoor", "object", "street", "video", "long_video")


class LayoutFailed(RuntimeError):
    """The random layout admits no acceptable camera path; the caller draws another one."""


def _unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


def _disc(rng: np.random.Generator, radius: float) -> np.ndarray:
    a, r = rng.uniform(0, 2 * np.pi), radius * np.sqrt(rng.random())
    return np.array([r * np.cos(a), r * np.sin(a)])


def _between(rng: np.random.Generator, low: float, high: float) -> float:
    """``rng.uniform(low, high)`` for ranges whose ends come from other draws: an empty range
    (``high < low``, e.g. a tall window on a low wall) gives its midpoint instead of numpy's
    ``ValueError``. One draw either way, and the same value as ``rng.uniform`` on valid ranges,
    so scenes that could be generated before are unchanged."""
    u = rng.random()
    return float(low + u * (high - low)) if high >= low else 0.5 * (low + high)


# ------------------------------------------------------------------------------ camera paths
Proposal = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray, float]]


def choose_cameras(rng, scene: SceneGeometry, intr: Intrinsics, n: int, propose: Proposal, rules: ViewRules):
    """One acceptable camera per frame from ``propose(rng, j) -> (centre, target, roll)``.

    Frame 0 must see mostly surfaces; later frames must see part of frame 0's view. A frame with
    no acceptable proposal falls back to poses interpolated towards frame 0.
    """
    cams: list[Camera] = []
    ref = None
    for j in range(n):
        cam, last = None, None
        for _ in range(40 if j == 0 else 25):
            centre, target, roll = propose(rng, j)
            cand = make_camera(intr, centre, target, roll)
            last = (centre, target, roll)
            if view_ok(scene, cand, rules, ref):
                cam = cand
                break
        if cam is None and j == 0:
            raise LayoutFailed("no acceptable first view")
        if cam is None:
            c0 = cams[0].centre
            t0 = c0 + cams[0].R[2] * 3.0
            for w in (0.5, 0.75, 0.9, 1.0):
                cand = make_camera(intr, (1 - w) * last[0] + w * c0, (1 - w) * last[1] + w * t0, (1 - w) * last[2])
                if w == 1.0 or view_ok(scene, cand, rules, ref):
                    cam = cand
                    break
        cams.append(cam)
        if j == 0:
            depth, pts = probe_points(scene, cam, 16, 12)
            ref = pts[np.isfinite(depth)]
    return cams


# ---------------------------------------------------------------------------------- lighting
def _indoor_lighting(rng, lamps: list[np.ndarray], size: float) -> Lighting:
    warm = np.array([1.0, 0.92, 0.8]) if rng.random() < 0.6 else np.array([0.9, 0.95, 1.05])
    amb = rng.uniform(0.2, 0.4)
    points = tuple(
        (p, (warm * rng.uniform(0.5, 1.0)).astype(np.float32), float(rng.uniform(0.4, 0.8) * size)) for p in lamps
    )
    sun = _unit([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.2, 1.0)])
    return Lighting(
        up=np.array([0.0, 0.0, 1.0]),
        sky_ambient=(amb * warm).astype(np.float32),
        ground_ambient=(0.5 * amb * warm).astype(np.float32),
        directional=((sun, np.full(3, rng.uniform(0.1, 0.35), np.float32)),),
        points=points,
    )


def _outdoor_lighting(rng) -> tuple[Lighting, Sky]:
    elev, azim = np.radians(rng.uniform(15, 70)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)])
    sun_rgb = np.array([1.0, 0.95, 0.85]) * rng.uniform(0.7, 1.1)
    sky_rgb = np.array([0.55, 0.65, 0.85]) * rng.uniform(0.35, 0.55)
    lighting = Lighting(
        up=np.array([0.0, 0.0, 1.0]),
        sky_ambient=sky_rgb.astype(np.float32),
        ground_ambient=(0.4 * sky_rgb).astype(np.float32),
        directional=((sun, sun_rgb.astype(np.float32)),),
    )
    zenith = np.array([0.12, 0.25, 0.6]) * rng.uniform(0.7, 1.2)
    horizon = np.array([0.6, 0.68, 0.8]) * rng.uniform(0.8, 1.2)
    clouds = procedural_texture("stone", rng, 128) if rng.random() < 0.8 else None
    sky = Sky(
        horizon.astype(np.float32),
        zenith.astype(np.float32),
        clouds,
        float(rng.uniform(0.05, 0.3)),
        float(rng.uniform(0.2, 0.7)),
    )
    return lighting, sky


# ------------------------------------------------------------------------------------ indoor
def build_room(b: SceneBuilder, half_w: float, half_d: float, height: float, keep_clear=(), n_items=None):
    """Walls, floor, ceiling, wall decoration and furniture; returns the ceiling lamp positions."""
    rng = b.rng
    floor = b.pattern(str(rng.choice(["wood", "tiles", "checker", "stone", "plain"])), tile=rng.uniform(0.8, 2.5))
    if rng.random() < 0.25:
        floor = b.photo(("gravel", "brick", "grass", "coins"), tile=rng.uniform(1, 3))
    b.quad([0, 0, 0], [0, 0, 1], half_w, half_d, floor, up=(0, 1, 0))
    b.quad([0, 0, height], [0, 0, -1], half_w, half_d, b.pattern("plain", tile=3.0, saturation=0.1), up=(0, 1, 0))
    paint = b.pattern("plain", tile=2.0, saturation=0.25)
    for normal, centre, half_len in (
        ([0, -1, 0], [0, half_d, height / 2], half_w),
        ([0, 1, 0], [0, -half_d, height / 2], half_w),
        ([-1, 0, 0], [half_w, 0, height / 2], half_d),
        ([1, 0, 0], [-half_w, 0, height / 2], half_d),
    ):
        wall = paint if rng.random() < 0.6 else b.any_material(tile=rng.uniform(1.0, 3.0), photo_prob=0.3)
        b.quad(centre, normal, half_len, height / 2, wall)
        _decorate_wall(b, np.array(centre, float), np.array(normal, float), half_len, height)
    _furnish(b, half_w, half_d, keep_clear, n_items)
    lamps = []
    shade = b.pattern("white", tint=0.0, size=32)
    b.materials[shade] = replace(b.materials[shade], tint=(2.0, 1.95, 1.85))  # bright lamp shades
    for _ in range(int(rng.integers(1, 4))):
        lamp = np.array([*(_disc(rng, 1.0) * [half_w * 0.7, half_d * 0.7]), height - 0.3])
        b.cylinder(lamp + [0, 0, 0.08], rng.uniform(0.12, 0.3), 0.12, shade)
        b.cylinder(lamp + [0, 0, 0.22], 0.01, 0.16, shade)
        lamps.append(lamp - [0, 0, 0.05])
    return lamps


def _decorate_wall(b: SceneBuilder, centre, normal, half_len: float, height: float) -> None:
    """Baseboard, pictures and maybe a door on one wall."""
    rng = b.rng
    side = np.cross([0, 0, 1.0], normal)
    base = centre.copy()
    base[2] = 0.05
    b.panel(base + normal * 0.01, side, normal, half_len, 0.01, 0.05, b.pattern("plain"), shadow=False)
    for _ in range(int(rng.integers(0, 4))):
        w, h = rng.uniform(0.3, 1.4), rng.uniform(0.3, 1.0)
        pos = centre + side * _between(rng, -half_len + w, half_len - w) + normal * 0.02
        pos[2] = _between(rng, 1.2, min(height - h / 2 - 0.1, 1.9))
        b.panel(pos, side, normal, w / 2, 0.02, h / 2, b.photo(tile=(w, h), tint=0.05), shadow=False)
    if rng.random() < 0.4:
        pos = centre + side * _between(rng, -half_len + 0.6, half_len - 0.6) + normal * 0.01
        pos[2] = 1.0
        b.quad(pos, normal, 0.45, 1.0, b.pattern("wood", tile=1.0))
    elif rng.random() < 0.5 and half_len > 1.2:  # a window: a bright pane in a frame
        w, h = _between(rng, 0.6, min(2.0, half_len)), rng.uniform(0.8, 1.4)
        pos = centre + side * _between(rng, -half_len + w, half_len - w) + normal * 0.01
        pos[2] = _between(rng, 0.9 + h / 2, min(height - h / 2 - 0.15, 2.2))
        pane = b.pattern("white", tile=3.0, size=64)
        b.materials[pane] = replace(b.materials[pane], tint=(1.6, 1.8, 2.0))
        b.panel(pos, side, normal, w / 2 + 0.05, 0.015, h / 2 + 0.05, b.pattern("plain"), shadow=False)
        b.quad(pos + normal * 0.016, normal, w / 2, h / 2, pane)


def _furnish(b: SceneBuilder, half_w: float, half_d: float, keep_clear, n_items=None) -> None:
    """Place furniture, mostly with its back to a wall, keeping clear of ``keep_clear`` xy points."""
    rng = b.rng
    n_items = int(rng.integers(5, 15)) if n_items is None else n_items
    for _ in range(n_items):
        kind = str(rng.choice(list(FURNITURE), p=[0.15, 0.15, 0.12, 0.12, 0.1, 0.06, 0.1, 0.1, 0.1]))
        hx, hy = FURNITURE_HALF[kind]
        for _ in range(20):
            if rng.random() < 0.6:  # against a wall, facing the room
                wall = int(rng.integers(4))
                yaw = [np.pi, 0.0, np.pi / 2, -np.pi / 2][wall]
                along = rng.uniform(-1, 1)
                xy = [
                    [along * (half_w - hx), half_d - hy - 0.05],
                    [along * (half_w - hx), -half_d + hy + 0.05],
                    [half_w - hy - 0.05, along * (half_d - hx)],
                    [-half_w + hy + 0.05, along * (half_d - hx)],
                ][wall]
            else:
                yaw = rng.uniform(0, 2 * np.pi)
                xy = [_between(rng, -half_w + 1, half_w - 1), _between(rng, -half_d + 1, half_d - 1)]
            fp = Footprint(np.array(xy, float), np.array([hx, hy]), yaw, 0.0)
            if all(not fp.overlaps(o, 0.15) for o in b.footprints) and all(fp.distance(c) > 0.9 for c in keep_clear):
                top = FURNITURE[kind](b, np.array([*xy, 0.0]), yaw)
                if kind == "table" or (kind == "cabinet" and b.footprints[-1].top < 1.3):
                    _clutter(b, b.footprints[-1], top)
                break


def _clutter(b: SceneBuilder, fp: Footprint, top) -> None:
    """Small objects on a table or cabinet top."""
    rng = b.rng
    top = fp.top if top is None else top
    for _ in range(int(rng.integers(0, 5))):
        local = rng.uniform(-0.7, 0.7, 2) * fp.half
        xy = fp.centre + np.array([[np.cos(fp.yaw), -np.sin(fp.yaw)], [np.sin(fp.yaw), np.cos(fp.yaw)]]) @ local
        add_tabletop_object(b, [xy[0], xy[1], top], rng.uniform(0, 2 * np.pi))


def indoor(rng, n: int, intr: Intrinsics, forward: bool = False):
    """A furnished room seen from a region of its floor (or, ``forward``, by a walking camera)."""
    b = SceneBuilder(rng)
    half_w, half_d, height = rng.uniform(2.0, 5.0), rng.uniform(2.0, 5.0), rng.uniform(2.4, 3.4)
    start = _disc(rng, 1.0) * [max(half_w - 1.2, 0.1), max(half_d - 1.2, 0.1)]
    lamps = build_room(b, half_w, half_d, height, keep_clear=[start])
    scene = b.build(_indoor_lighting(rng, lamps, max(half_w, half_d)), None)
    eye0 = rng.uniform(1.0, 1.8)
    if forward:
        return scene, _forward_path(rng, scene, intr, n, np.array([*start, eye0]), (0.02, 0.12), ViewRules(0.2))
    points_of_interest = [np.array([*fp.centre, fp.top * 0.6]) for fp in b.footprints] or [np.array([0, 0, 1.0])]
    target0 = points_of_interest[int(rng.integers(len(points_of_interest)))]
    if np.linalg.norm(target0[:2] - start) < 1.0:
        target0 = np.array([*(-np.sign(start + 1e-3) * [half_w, half_d] * rng.uniform(0.5, 1, 2)), 1.0])
    move = rng.uniform(0.3, 2.0)

    def propose(rng, j):
        xy = start + (_disc(rng, move) if j else _disc(rng, 0.1))
        xy = np.clip(xy, [-half_w + 0.3, -half_d + 0.3], [half_w - 0.3, half_d - 0.3])
        centre = np.array([*xy, np.clip(eye0 + rng.normal(0, 0.2) * (j > 0), 0.4, height - 0.3)])
        dist = np.linalg.norm(target0 - centre)
        target = target0 + rng.normal(0, 0.25 * dist, 3) * (j > 0)
        return centre, target, np.radians(rng.normal(0, 4))

    return scene, choose_cameras(rng, scene, intr, n, propose, ViewRules(0.25))


# ------------------------------------------------------------------------------------ object
def object_centric(rng, n: int, intr: Intrinsics):
    """Objects on a table or the floor, filmed by cameras orbiting them on an arc."""
    b = SceneBuilder(rng)
    outdoor = rng.random() < 0.3
    if outdoor:
        b.quad(
            [0, 0, 0], [0, 0, 1], 60, 60, b.photo(("grass", "gravel", "brick"), tile=rng.uniform(1, 3)), up=(0, 1, 0)
        )
        for _ in range(int(rng.integers(3, 9))):
            a, r = rng.uniform(0, 2 * np.pi), rng.uniform(8, 25)
            size = rng.uniform([2, 2, 2], [8, 8, 10])
            b.box([r * np.cos(a), r * np.sin(a), size[2] / 2], size, b.any_material(tile=3.0), rng.uniform(0, np.pi))
        lighting, sky = _outdoor_lighting(rng)
    else:
        half = rng.uniform(3.0, 6.0)
        lamps = build_room(
            b,
            half,
            half * rng.uniform(0.8, 1.2),
            rng.uniform(2.6, 3.4),
            keep_clear=[np.zeros(2)],
            n_items=int(rng.integers(2, 7)),
        )
        lighting, sky = _indoor_lighting(rng, lamps, half), None
    on_table = rng.random() < 0.7
    if on_table:
        top = add_table(
            b, np.zeros(3), rng.uniform(0, np.pi), size=(rng.uniform(1.0, 1.6), rng.uniform(0.8, 1.2), 0.75)
        )
        spread, scale = 0.35, 1.0
    else:
        top, spread, scale = 0.0, 0.6, rng.uniform(1.5, 3.0)
        if rng.random() < 0.5:
            b.quad([0, 0, 0.005], [0, 0, 1], 1.0, 0.7, b.any_material(tile=1.0), up=(0, 1, 0))
    radii = [
        add_tabletop_object(b, [*_disc(rng, spread), top], rng.uniform(0, 2 * np.pi), scale)
        for _ in range(int(rng.integers(2, 8)))
    ]
    scene = b.build(lighting, sky)
    centre = np.array([0.0, 0.0, top + 0.1 * scale])
    radius = rng.uniform(2.5, 5.0) * max(spread, max(radii))
    az0, span = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(45, 360))
    elev0 = np.radians(rng.uniform(15, 55))

    def propose(rng, j):
        frac = j / max(n - 1, 1)
        az = az0 + span * frac + rng.normal(0, 0.03)
        el = np.clip(elev0 + rng.normal(0, np.radians(4)), np.radians(5), np.radians(80))
        r = radius * rng.uniform(0.9, 1.1)
        eye = centre + r * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        return eye, centre + rng.normal(0, 0.03 * r, 3), np.radians(rng.normal(0, 3))

    return scene, choose_cameras(rng, scene, intr, n, propose, ViewRules(0.15, 0.6, 0.1))


# ------------------------------------------------------------------------------------ street
def _car(b: SceneBuilder, base, yaw: float) -> None:
    rng = b.rng
    paint = b.pattern("plain", tint=0.6)
    glass = b.pattern("plain", tint=0.0)
    tyre = b.pattern("plain", tint=0.0)
    L, W = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
    b.box(_at(base, yaw, [0, 0, 0.65]), [L, W, 0.6], paint, yaw)
    b.box(_at(base, yaw, [-0.2, 0, 1.2]), [L * 0.5, W * 0.9, 0.5], glass if rng.random() < 0.5 else paint, yaw)
    for sx in (-1, 1):
        for sy in (-1, 1):
            axis = np.array([-np.sin(yaw), np.cos(yaw), 0.0])
            b.cylinder(_at(base, yaw, [sx * L * 0.32, sy * W * 0.45, 0.33]), 0.33, 0.22, tyre, axis=axis)
    b.footprint(base, [L / 2, W / 2], yaw, 1.45)


def _at(base, yaw, offset):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.asarray(base, float) + np.array([c * offset[0] - s * offset[1], s * offset[0] + c * offset[1], offset[2]])


def _tree(b: SceneBuilder, base) -> None:
    rng = b.rng
    h = rng.uniform(2.0, 4.5)
    b.cylinder(_at(base, 0, [0, 0, h / 2]), rng.uniform(0.1, 0.2), h, b.photo(("gravel", "moon", "brick"), tile=0.5))
    leaves = b.photo(("grass",), tile=rng.uniform(0.5, 1.5), colour=rng.uniform([0.3, 0.6, 0.15], [0.7, 1.0, 0.4]))
    for _ in range(int(rng.integers(1, 4))):
        r = rng.uniform(0.8, 2.0)
        b.sphere(_at(base, 0, [*rng.normal(0, 0.4, 2), h + r * rng.uniform(0.3, 1.0)]), r, leaves)
    b.footprint(base, [0.3, 0.3], 0.0, h + 2)


def build_street(b: SceneBuilder):
    """A straight street along x; returns (road half width, sidewalk outer edge, half length)."""
    rng = b.rng
    half_len, road = rng.uniform(40, 70), rng.uniform(3.0, 6.0)
    walk = road + rng.uniform(2.0, 4.0)
    b.quad([0, 0, 0], [0, 0, 1], 150, 150, b.photo(("grass", "gravel"), tile=rng.uniform(1, 3)), up=(0, 1, 0))
    asphalt = b.photo(("gravel",), tile=2.0, colour=rng.uniform(0.25, 0.45) * np.array([1.0, 1.0, 1.05]))
    b.quad([0, 0, 0.002], [0, 0, 1], half_len + 30, road, asphalt, up=(0, 1, 0))
    line = b.pattern("plain", tint=0.0)
    for x in np.arange(-half_len, half_len, rng.uniform(6, 12)):
        b.quad([x, 0, 0.004], [0, 0, 1], 1.5, 0.08, line, up=(0, 1, 0))
    for side in (-1, 1):
        b.box(
            [0, side * (road + walk) / 2, 0.075],
            [2 * half_len + 60, walk - road, 0.15],
            b.pattern(str(rng.choice(["tiles", "stone", "bricks"])), tile=rng.uniform(0.5, 2.0)),
            shadow=False,
        )
        x = -half_len - 20
        while x < half_len + 20:
            gap = rng.random() < 0.12  # an alley
            w = rng.uniform(3, 8) if gap else rng.uniform(6, 20)
            if not gap:
                depth, h = rng.uniform(8, 14), rng.uniform(5, 25)
                setback = rng.uniform(0, 2.0)
                if rng.random() < 0.55:
                    floors = rng.uniform(2.8, 3.6)
                    mat = b.pattern("facade", tile=(floors * rng.integers(2, 5), floors * rng.integers(2, 5)))
                else:
                    mat = b.photo(
                        ("brick", "text", "page", "coins", "camera", "astronaut", "coffee"), tile=rng.uniform(2, 6)
                    )
                b.box([x + w / 2, side * (walk + setback + depth / 2), h / 2], [w - 0.3, depth, h], mat)
            x += w
    return road, walk, half_len


def street(rng, n: int, intr: Intrinsics, forward: bool = False):
    """An outdoor street with sky; wide-baseline views (or, ``forward``, a driving/walking camera)."""
    b = SceneBuilder(rng)
    road, walk, half_len = build_street(b)
    for _ in range(int(rng.integers(4, 14))):
        side = rng.choice([-1, 1])
        x = rng.uniform(-half_len, half_len)
        kind = rng.choice(["tree", "car", "pole", "bin"], p=[0.35, 0.35, 0.15, 0.15])
        if kind == "car":
            base = np.array([x, side * (road - 1.3), 0.0])
            fp = Footprint(base[:2], np.array([2.4, 1.0]), 0.0, 0)
            if all(not fp.overlaps(o, 0.5) for o in b.footprints):
                _car(b, base, rng.choice([0.0, np.pi]) + rng.normal(0, 0.05))
        elif kind == "tree":
            _tree(b, np.array([x, side * (road + 0.8), 0.15]))
        elif kind == "pole":
            b.cylinder([x, side * (road + 0.4), 0.15 + 2.5], 0.07, 5.0, b.pattern("plain"))
            b.footprint([x, side * (road + 0.4)], [0.1, 0.1], 0.0, 5.0)
        else:
            b.box([x, side * (walk - 0.5), 0.6], [0.6, 0.6, 0.9], b.pattern(str(rng.choice(["plain", "stripes"]))))
            b.footprint([x, side * (walk - 0.5)], [0.3, 0.3], 0.0, 0.9)
    lighting, sky = _outdoor_lighting(rng)
    scene = b.build(lighting, sky)
    x0 = rng.uniform(-half_len * 0.5, half_len * 0.5)
    y0 = _between(rng, -road + 1, road - 1)
    eye = rng.uniform(1.3, 2.0)
    if forward:
        return scene, _forward_path(
            rng,
            scene,
            intr,
            n,
            np.array([x0, y0, eye]),
            (0.2, 1.0),
            ViewRules(1.0, 0.6),
            yaw_hint=float(rng.choice([0.0, np.pi])),
        )
    heading0 = rng.choice([0.0, np.pi]) + rng.normal(0, 0.5) if rng.random() < 0.7 else rng.choice([-1, 1]) * np.pi / 2
    spread_x, spread_y = rng.uniform(2, 12), rng.uniform(0.5, 3.0)

    def propose(rng, j):
        centre = np.array([x0, y0, eye]) + (j > 0) * np.array(
            [rng.uniform(-spread_x, spread_x), rng.uniform(-spread_y, spread_y), rng.normal(0, 0.2)]
        )
        heading = heading0 + (j > 0) * rng.normal(0, 0.35)
        pitch = rng.uniform(-0.15, 0.25)
        direction = np.array([np.cos(heading) * np.cos(pitch), np.sin(heading) * np.cos(pitch), np.sin(pitch)])
        return centre, centre + 10 * direction, np.radians(rng.normal(0, 3))

    return scene, choose_cameras(rng, scene, intr, n, propose, ViewRules(1.0, 0.6, 0.15))


# ------------------------------------------------------------------------------------- video
def _forward_path(rng, scene, intr, n, start, step_range, rules: ViewRules, yaw_hint=None):
    """A smooth forward-moving camera path from ``start``; shrinks its steps until every frame is
    acceptable (an unmoving jittered camera as the last resort)."""
    yaws = np.linspace(0, 2 * np.pi, 16, endpoint=False) if yaw_hint is None else np.array([yaw_hint])
    best_yaw, best_free = 0.0, -1.0
    for yaw in yaws:
        cam = make_camera(intr, start, start + [np.cos(yaw), np.sin(yaw), 0.0])
        depth, _ = probe_points(scene, cam, 3, 3)
        free = float(np.min(np.where(np.isfinite(depth), depth, 100.0)))
        if free > best_free:
            best_yaw, best_free = yaw, free
    step = min(rng.uniform(*step_range), 0.6 * best_free / max(n, 1))
    curve = rng.normal(0, 0.02)
    pitch = rng.uniform(-0.15, 0.1)
    for attempt in range(5):
        cams, ref, ok, pos = [], None, True, start.copy()
        for j in range(n):
            yaw = best_yaw + curve * j + rng.normal(0, 0.01)
            d = np.array([np.cos(yaw), np.sin(yaw), 0.0])
            if j:
                pos = pos + step * d
            eye = pos + [0, 0, 0.02 * np.sin(j * 1.3)]
            look = eye + 5 * np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
            cam = make_camera(intr, eye, look, np.radians(rng.normal(0, 1.5)))
            if not view_ok(scene, cam, rules, ref):
                ok = False
                break
            cams.append(cam)
            if j == 0:
                depth, pts = probe_points(scene, cam, 16, 12)
                ref = pts[np.isfinite(depth)]
        if ok:
            return cams
        if attempt == 0 and not cams:
            raise LayoutFailed("no acceptable first view")
        step *= 0.4
    raise LayoutFailed("no acceptable forward path")


def video(rng, n: int, intr: Intrinsics):
    """Forward motion with small baselines through a room or along a street."""
    if rng.random() < 0.5:
        return indoor(rng, n, intr, forward=True)
    return street(rng, n, intr, forward=True)


def long_video(rng, n: int, intr: Intrinsics, laps: float = 2.0):
    """``laps`` laps of an elliptic loop through a furnished room, looking forward and outward.

    The path spirals slowly: each lap passes the places of the previous one 8% further in and 10 cm lower
    (a revisit, not a replay). The loop keeps 0.9 m from the furniture; each pose is checked to be clear of surfaces.
    Frame 0 need not share the view of late frames (the rule of the other families is not applied).
    """
    b = SceneBuilder(rng)
    half_w, half_d, height = rng.uniform(3.5, 5.5), rng.uniform(3.5, 5.5), rng.uniform(2.6, 3.4)
    radii = np.array([half_w, half_d]) * rng.uniform(0.3, 0.4)
    ring = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    lamps = build_room(b, half_w, half_d, height, keep_clear=[radii * [np.cos(a), np.sin(a)] for a in ring])
    scene = b.build(_indoor_lighting(rng, lamps, max(half_w, half_d)), None)
    eye, look_out, phase = rng.uniform(1.2, 1.6), np.radians(rng.uniform(25, 50)), rng.uniform(0, 2 * np.pi)
    pitch = rng.uniform(-0.15, 0.05)
    rules = ViewRules(min_depth=0.2, max_sky=0.6, min_overlap=0.0)
    cams = []
    for j in range(n):
        a = phase + 2 * np.pi * laps * j / max(n, 1)
        lap = laps * j / max(n, 1)  # laps done so far; the path spirals inwards and down, without jumps
        shrink = 1.0 - 0.08 * lap
        centre = np.array([*(radii * shrink * [np.cos(a), np.sin(a)]), eye - 0.1 * lap + 0.02 * np.sin(0.7 * j)])
        yaw = a + np.pi / 2 - look_out  # the direction of travel (counter-clockwise), turned outwards
        direction = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
        cam = make_camera(intr, centre, centre + 5 * direction, np.radians(rng.normal(0, 1.0)))
        if not view_ok(scene, cam, rules, None):
            raise LayoutFailed(f"long_video: frame {j} is too close to a surface")
        cams.append(cam)
    return scene, cams


BUILDERS = {"indoor": indoor, "object": object_centric, "street": street, "video": video, "long_video": long_video}

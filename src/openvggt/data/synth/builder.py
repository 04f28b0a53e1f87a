"""Scene assembly for the synthetic engine: materials, primitives and furniture-like objects.

World frame: metres, z up, ground at z = 0. Objects are composed of the four analytic primitives
of :mod:`openvggt.data.synth.primitives`; every ``add_*`` object helper places an object standing on
``base`` (its footprint centre at floor height), rotated by ``yaw`` about z, and records its
footprint so later objects and cameras can keep clear of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openvggt.data.synth.primitives import BOX, CYLINDER, QUAD, SPHERE, Primitive
from openvggt.data.synth.render import Lighting, Material, SceneGeometry, Sky
from openvggt.data.synth.textures import COLOUR_PHOTOS, GRAY_PHOTOS, photo_textures, procedural_texture

ALL_PHOTOS = COLOUR_PHOTOS + GRAY_PHOTOS + ("motorcycle_left", "motorcycle_right")


def rot_z(yaw: float) -> np.ndarray:
    """``[3, 3]`` rotation about world z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def frame_from_normal(normal: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Orthonormal ``[3, 3]`` axes whose z is ``normal`` and whose y is as close to ``up`` as possible."""
    z = np.asarray(normal, np.float64) / np.linalg.norm(normal)
    up = np.asarray(up, np.float64)
    if abs(z @ up) > 0.99:
        up = np.array([0.0, 1.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


@dataclass(frozen=True)
class Footprint:
    """An oriented rectangle on the ground ``[x, y]`` centre, half sizes, yaw; and the top height."""

    centre: np.ndarray
    half: np.ndarray
    yaw: float
    top: float

    def distance(self, xy: np.ndarray) -> float:
        """Distance from ground point ``xy`` to the rectangle (0 inside)."""
        local = rot_z(self.yaw)[:2, :2].T @ (np.asarray(xy) - self.centre)
        return float(np.linalg.norm(np.maximum(np.abs(local) - self.half, 0)))

    def overlaps(self, other: Footprint, gap: float) -> bool:
        """Whether the two rectangles, each grown by ``gap / 2``, intersect (separating axis test)."""
        axes = [rot_z(self.yaw)[:2, :2], rot_z(other.yaw)[:2, :2]]
        d = other.centre - self.centre
        for frame in axes:
            for k in range(2):
                n = frame[:, k]
                r1 = np.abs(axes[0].T @ n) @ (self.half + gap / 2)
                r2 = np.abs(axes[1].T @ n) @ (other.half + gap / 2)
                if abs(d @ n) > r1 + r2:
                    return False
        return True


class SceneBuilder:
    """Collects primitives and materials drawn from one random generator."""

    def __init__(self, rng: np.random.Generator, texture_size: int = 256):
        self.rng = rng
        self.texture_size = texture_size
        self.primitives: list[Primitive] = []
        self.materials: list[Material] = []
        self.footprints: list[Footprint] = []
        self._photos = photo_textures()

    # ------------------------------------------------------------------------------ materials
    def photo(self, names=ALL_PHOTOS, tile=1.0, tint: float = 0.25, colour=None) -> int:
        """A material from a random photograph; grey photos get a random colour tint unless
        ``colour`` (a linear RGB multiplier) is given."""
        name = str(self.rng.choice(names))
        tex = self._photos[name]
        if colour is None:
            colour = 1 + tint * self.rng.uniform(-1, 1, 3)
            if name in GRAY_PHOTOS:
                colour = colour * (1 + 0.35 * self.rng.uniform(-1, 1, 3))
        return self._add_material(tex, tile, colour)

    def pattern(
        self, kind: str | None = None, tile=1.0, tint: float = 0.1, size: int | None = None, saturation: float = 0.35
    ) -> int:
        """A material with a new procedural texture (``kind`` random among the families if None)."""
        kinds = ("plain", "stone", "checker", "stripes", "tiles", "bricks", "wood", "dots")
        kind = kind or str(self.rng.choice(kinds))
        tex = procedural_texture(kind, self.rng, size or self.texture_size, saturation)
        return self._add_material(tex, tile, 1 + tint * self.rng.uniform(-1, 1, 3))

    def any_material(self, tile=1.0, photo_prob: float = 0.5) -> int:
        if self.rng.random() < photo_prob:
            return self.photo(tile=tile)
        return self.pattern(tile=tile)

    def _add_material(self, tex, tile, tint) -> int:
        tile = (float(tile), float(tile)) if np.isscalar(tile) else (float(tile[0]), float(tile[1]))
        tint = tuple(float(x) for x in np.clip(tint, 0.05, 2.0))
        offset = (float(self.rng.random()), float(self.rng.random()))
        self.materials.append(Material(tex, tile, tint, offset))
        return len(self.materials) - 1

    # ----------------------------------------------------------------------------- primitives
    def add(self, kind: int, centre, axes, half, material: int, shadow: bool = True) -> None:
        """Append a primitive; ``shadow=False`` for surfaces that bound the scene (floors, walls,
        ground) or lie flat on others: they would only block the sun or cost time."""
        c, A, h = (np.asarray(x, np.float64) for x in (centre, axes, half))
        self.primitives.append(Primitive(kind, c, A, h, material, shadow))

    def quad(
        self, centre, normal, half_u: float, half_v: float, material: int, up=(0.0, 0.0, 1.0), shadow: bool = False
    ) -> None:
        """A rectangle; by default casts no shadow (quads are floors, walls, ground, decals)."""
        self.add(QUAD, centre, frame_from_normal(normal, up), [half_u, half_v, 0.0], material, shadow)

    def box(self, centre, size, material: int, yaw: float = 0.0, shadow: bool = True) -> None:
        self.add(BOX, centre, rot_z(yaw), 0.5 * np.asarray(size, np.float64), material, shadow)

    def panel(
        self,
        centre,
        side,
        normal,
        half_side: float,
        half_normal: float,
        half_up: float,
        material: int,
        shadow: bool = True,
    ):
        """A thin box standing vertically: extents along ``side``, ``normal`` and world z."""
        axes = np.stack([side, normal, [0.0, 0.0, 1.0]], axis=1)
        self.add(BOX, centre, axes, [half_side, half_normal, half_up], material, shadow)

    def sphere(self, centre, radius: float, material: int) -> None:
        self.add(SPHERE, centre, np.eye(3), [radius] * 3, material)

    def cylinder(self, centre, radius: float, height: float, material: int, axis=(0.0, 0.0, 1.0)) -> None:
        self.add(CYLINDER, centre, frame_from_normal(axis, (1.0, 0.0, 0.0)), [radius, radius, height / 2], material)

    def footprint(self, base, half_xy, yaw: float, top: float) -> Footprint:
        fp = Footprint(np.asarray(base[:2], np.float64), np.asarray(half_xy, np.float64), yaw, top)
        self.footprints.append(fp)
        return fp

    def free(self, xy, clearance: float) -> bool:
        """Whether ground point ``xy`` is at least ``clearance`` from every recorded footprint."""
        return all(fp.distance(xy) >= clearance for fp in self.footprints)

    def build(self, lighting: Lighting, sky: Sky | None) -> SceneGeometry:
        return SceneGeometry(tuple(self.primitives), tuple(self.materials), lighting, sky)


def local_to_world(base, yaw: float, offset) -> np.ndarray:
    """World position of ``offset`` (object frame, metres) for an object at ``base`` with ``yaw``."""
    return np.asarray(base, np.float64) + rot_z(yaw) @ np.asarray(offset, np.float64)


# --------------------------------------------------------------------------- object catalogue
def add_table(b: SceneBuilder, base, yaw: float, size=None, round_legs=None) -> float:
    """A table; returns the height of its top surface."""
    rng = b.rng
    w, d, h = size if size is not None else (rng.uniform(0.8, 2.0), rng.uniform(0.6, 1.1), rng.uniform(0.65, 0.8))
    top_mat, leg_mat = b.pattern("wood", tile=1.0) if rng.random() < 0.6 else b.any_material(), b.pattern()
    thick = rng.uniform(0.03, 0.06)
    b.box(local_to_world(base, yaw, [0, 0, h - thick / 2]), [w, d, thick], top_mat, yaw)
    round_legs = rng.random() < 0.5 if round_legs is None else round_legs
    for sx in (-1, 1):
        for sy in (-1, 1):
            p = local_to_world(base, yaw, [sx * (w / 2 - 0.06), sy * (d / 2 - 0.06), (h - thick) / 2])
            if round_legs:
                b.cylinder(p, 0.025, h - thick, leg_mat)
            else:
                b.box(p, [0.05, 0.05, h - thick], leg_mat, yaw)
    b.footprint(base, [w / 2, d / 2], yaw, h)
    return h


def add_chair(b: SceneBuilder, base, yaw: float) -> None:
    rng = b.rng
    w, seat = rng.uniform(0.4, 0.5), rng.uniform(0.42, 0.48)
    mat = b.any_material(tile=0.5)
    b.box(local_to_world(base, yaw, [0, 0, seat]), [w, w, 0.05], mat, yaw)
    b.box(local_to_world(base, yaw, [0, w / 2 - 0.02, seat + 0.25]), [w, 0.04, 0.45], mat, yaw)
    legs = b.pattern()
    for sx in (-1, 1):
        for sy in (-1, 1):
            b.box(
                local_to_world(base, yaw, [sx * (w / 2 - 0.03), sy * (w / 2 - 0.03), seat / 2]),
                [0.04, 0.04, seat],
                legs,
                yaw,
            )
    b.footprint(base, [w / 2, w / 2], yaw, seat + 0.5)


def add_cabinet(b: SceneBuilder, base, yaw: float) -> None:
    rng = b.rng
    w, d, h = rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.6), rng.uniform(0.6, 2.1)
    b.box(local_to_world(base, yaw, [0, 0, h / 2]), [w, d, h], b.any_material(tile=rng.uniform(0.5, 1.5)), yaw)
    knob = b.pattern("plain")
    for sx in (-0.15, 0.15) if w > 0.8 else (0.0,):
        b.sphere(local_to_world(base, yaw, [sx * w, -d / 2 - 0.015, h * 0.55]), 0.02, knob)
    b.footprint(base, [w / 2, d / 2], yaw, h)


def add_shelf(b: SceneBuilder, base, yaw: float) -> None:
    """A bookshelf: side panels, boards and rows of books of varied colour and size."""
    rng = b.rng
    w, d, h = rng.uniform(0.8, 1.6), rng.uniform(0.28, 0.4), rng.uniform(1.2, 2.2)
    wood = b.pattern("wood", tile=0.8)
    for sx in (-1, 1):
        b.box(local_to_world(base, yaw, [sx * (w / 2 - 0.01), 0, h / 2]), [0.02, d, h], wood, yaw)
    b.box(local_to_world(base, yaw, [0, d / 2 - 0.005, h / 2]), [w, 0.01, h], wood, yaw)
    n_boards = int(rng.integers(3, 6))
    book_mats = [b.pattern(rng.choice(["plain", "stripes", "stone"]), tile=0.3) for _ in range(3)] + [b.photo(tile=0.4)]
    for i in range(n_boards + 1):
        z = 0.02 + i * (h - 0.04) / n_boards
        b.box(local_to_world(base, yaw, [0, 0, z]), [w - 0.04, d, 0.02], wood, yaw)
        if i == n_boards:
            break
        x = -w / 2 + 0.03
        gap_top = (h - 0.04) / n_boards - 0.03
        while x < w / 2 - 0.08 and rng.random() < 0.95:
            bw = rng.uniform(0.02, 0.06)
            bh = rng.uniform(0.5, 0.95) * gap_top
            bd = rng.uniform(0.6, 0.95) * d
            b.box(
                local_to_world(base, yaw, [x + bw / 2, 0, z + 0.01 + bh / 2]),
                [bw, bd, bh],
                book_mats[int(rng.integers(len(book_mats)))],
                yaw,
            )
            x += bw + (rng.uniform(0.05, 0.25) if rng.random() < 0.1 else 0.002)
    b.footprint(base, [w / 2, d / 2], yaw, h)


def add_sofa(b: SceneBuilder, base, yaw: float) -> None:
    rng = b.rng
    w, d = rng.uniform(1.4, 2.4), rng.uniform(0.8, 1.0)
    fabric = b.pattern(rng.choice(["plain", "stone", "dots", "checker"]), tile=0.5)
    b.box(local_to_world(base, yaw, [0, 0, 0.22]), [w, d, 0.44], fabric, yaw)
    b.box(local_to_world(base, yaw, [0, d / 2 - 0.1, 0.55]), [w, 0.2, 0.5], fabric, yaw)
    for sx in (-1, 1):
        b.box(local_to_world(base, yaw, [sx * (w / 2 - 0.09), 0, 0.35]), [0.18, d, 0.3], fabric, yaw)
    pillow = b.photo(tile=0.4)
    for _ in range(int(rng.integers(0, 3))):
        b.box(
            local_to_world(base, yaw, [rng.uniform(-w / 3, w / 3), d / 2 - 0.28, 0.62]),
            [0.4, 0.12, 0.35],
            pillow,
            yaw + rng.uniform(-0.2, 0.2),
        )
    b.footprint(base, [w / 2, d / 2], yaw, 0.8)


def add_bed(b: SceneBuilder, base, yaw: float) -> None:
    rng = b.rng
    w, d = rng.uniform(1.0, 1.8), rng.uniform(1.9, 2.1)
    b.box(local_to_world(base, yaw, [0, 0, 0.2]), [w, d, 0.4], b.pattern("wood"), yaw)
    b.box(local_to_world(base, yaw, [0, 0, 0.5]), [w - 0.05, d - 0.05, 0.2], b.pattern(tile=0.7), yaw)
    b.box(local_to_world(base, yaw, [0, d / 2 - 0.02, 0.6]), [w, 0.04, 1.2], b.pattern("wood"), yaw)
    b.box(local_to_world(base, yaw, [0, d / 2 - 0.3, 0.65]), [w * 0.7, 0.35, 0.12], b.pattern("plain"), yaw)
    b.footprint(base, [w / 2, d / 2], yaw, 1.2)


def add_lamp(b: SceneBuilder, base, yaw: float) -> None:
    rng = b.rng
    h = rng.uniform(1.2, 1.8)
    metal = b.pattern("plain")
    b.cylinder(local_to_world(base, yaw, [0, 0, 0.015]), 0.15, 0.03, metal)
    b.cylinder(local_to_world(base, yaw, [0, 0, h / 2]), 0.015, h, metal)
    b.cylinder(
        local_to_world(base, yaw, [0, 0, h]), rng.uniform(0.15, 0.25), 0.3, b.pattern(rng.choice(["plain", "stripes"]))
    )
    b.footprint(base, [0.2, 0.2], yaw, h + 0.15)


def add_plant(b: SceneBuilder, base, yaw: float) -> None:
    rng = b.rng
    r, h = rng.uniform(0.12, 0.25), rng.uniform(0.25, 0.5)
    b.cylinder(
        local_to_world(base, yaw, [0, 0, h / 2]), r, h, b.pattern(rng.choice(["plain", "tiles", "stripes"]), tile=0.3)
    )
    leaves = b.photo(("grass",), tile=0.3, colour=rng.uniform([0.3, 0.6, 0.15], [0.7, 1.0, 0.4]))
    for _ in range(int(rng.integers(1, 4))):
        rr = rng.uniform(0.8, 1.6) * r
        b.sphere(
            local_to_world(
                base, yaw, [rng.uniform(-r, r) * 0.5, rng.uniform(-r, r) * 0.5, h + rr * rng.uniform(0.6, 1.5)]
            ),
            rr,
            leaves,
        )
    b.footprint(base, [r, r], yaw, h + 3 * r)


def add_boxes(b: SceneBuilder, base, yaw: float) -> None:
    """A small pile of cardboard-like boxes."""
    rng = b.rng
    z = 0.0
    mat = b.photo(("coffee", "page", "text", "gravel", "moon"), tile=0.6) if rng.random() < 0.5 else b.pattern("plain")
    for _ in range(int(rng.integers(1, 4))):
        s = rng.uniform(0.25, 0.6, 3) * [1, 1, 0.8]
        b.box(
            local_to_world(base, yaw, [rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), z + s[2] / 2]),
            s,
            mat,
            yaw + rng.uniform(-0.3, 0.3),
        )
        z += s[2]
    b.footprint(base, [0.35, 0.35], yaw, z)


def add_tabletop_object(b: SceneBuilder, base, yaw: float, scale: float = 1.0) -> float:
    """A small object standing on a surface at ``base`` (mug, ball, book, box, toy); returns its radius."""
    rng = b.rng
    kind = rng.choice(["mug", "ball", "books", "box", "can", "toy", "vase"])
    mat = b.any_material(tile=rng.uniform(0.15, 0.5) * scale, photo_prob=0.6)
    s = scale * rng.uniform(0.7, 1.4)
    if kind == "mug":
        r, h = 0.045 * s, 0.1 * s
        b.cylinder(local_to_world(base, yaw, [0, 0, h / 2]), r, h, mat)
        b.box(local_to_world(base, yaw, [r + 0.012 * s, 0, h / 2]), [0.025 * s, 0.012 * s, 0.06 * s], mat, yaw)
        return r + 0.03 * s
    if kind == "ball":
        r = 0.08 * s
        b.sphere(local_to_world(base, yaw, [0, 0, r]), r, mat)
        return r
    if kind == "books":
        z = 0.0
        for _ in range(int(rng.integers(1, 5))):
            size = np.array([0.22, 0.16, 0.03]) * s * rng.uniform(0.8, 1.2, 3)
            b.box(
                local_to_world(base, yaw, [0, 0, z + size[2] / 2]),
                size,
                b.pattern("plain", tile=0.2),
                yaw + rng.uniform(-0.3, 0.3),
            )
            z += size[2]
        return 0.14 * s
    if kind == "box":
        size = rng.uniform(0.08, 0.3, 3) * s
        b.box(local_to_world(base, yaw, [0, 0, size[2] / 2]), size, mat, yaw)
        return float(np.linalg.norm(size[:2]) / 2)
    if kind == "can":
        r, h = 0.035 * s, 0.12 * s
        b.cylinder(local_to_world(base, yaw, [0, 0, h / 2]), r, h, mat)
        return r
    if kind == "toy":
        r = 0.05 * s
        b.cylinder(local_to_world(base, yaw, [0, 0, 1.5 * r]), r, 3 * r, mat)
        b.sphere(local_to_world(base, yaw, [0, 0, 3 * r + 0.8 * r]), 0.8 * r, b.any_material(tile=0.2))
        return r
    r, h = 0.06 * s, 0.25 * s
    b.cylinder(local_to_world(base, yaw, [0, 0, h / 2]), r, h, mat)
    b.sphere(local_to_world(base, yaw, [0, 0, h]), r * 0.8, mat)
    return r


FURNITURE = {
    "table": add_table,
    "chair": add_chair,
    "cabinet": add_cabinet,
    "shelf": add_shelf,
    "sofa": add_sofa,
    "bed": add_bed,
    "lamp": add_lamp,
    "plant": add_plant,
    "boxes": add_boxes,
}
FURNITURE_HALF = {  # conservative half extents used while placing, before the object is drawn
    "table": (1.0, 0.55),
    "chair": (0.3, 0.3),
    "cabinet": (0.8, 0.3),
    "shelf": (0.8, 0.2),
    "sofa": (1.2, 0.5),
    "bed": (0.9, 1.05),
    "lamp": (0.25, 0.25),
    "plant": (0.3, 0.3),
    "boxes": (0.4, 0.4),
}

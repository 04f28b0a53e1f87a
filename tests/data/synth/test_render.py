"""Ray caster internals: window culling loses no hits, shadows agree with ray casting, textures."""

from __future__ import annotations

import numpy as np

from openvggt.data.synth.cameras import look_at
from openvggt.data.synth.primitives import BOX, CYLINDER, QUAD, SPHERE, Primitive
from openvggt.data.synth.render import Camera, trace_grid, trace_rays
from openvggt.data.synth.shadows import occluded
from openvggt.data.synth.textures import Texture


def test_window_culling_loses_no_hits(tiny_scenes):
    """trace_grid tests each primitive only inside its projected box; trace_rays tests every ray."""
    for scene in tiny_scenes.values():
        cam = scene.cameras[1]
        depth, index, _, _ = trace_grid(scene.geometry, cam, np.zeros((1, 2)))
        v, u = np.mgrid[0 : cam.height, 0 : cam.width]
        dx = ((u - cam.K[0, 2]) / cam.K[0, 0]).ravel()
        dy = ((v - cam.K[1, 2]) / cam.K[1, 1]).ravel()
        d2, i2 = trace_rays(scene.geometry, cam, dx, dy)
        np.testing.assert_array_equal(index[0].ravel(), i2)
        np.testing.assert_allclose(depth[0].ravel(), d2, rtol=1e-6)


def _random_primitives(rng):
    prims = []
    for kind in (QUAD, BOX, SPHERE, CYLINDER):
        axes, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        axes *= np.sign(np.linalg.det(axes))
        prims.append(Primitive(kind, rng.uniform(-1, 1, 3) + [0, 0, 3], axes, rng.uniform(0.3, 1.0, 3), 0))
    return prims


def test_shadow_rays_agree_with_camera_rays():
    """A point is in shadow exactly when a camera at the point, looking at the light, sees something."""
    rng = np.random.default_rng(0)
    prims = _random_primitives(rng)
    light = np.array([0.3, -0.2, 1.0])
    light /= np.linalg.norm(light)
    points = np.stack([rng.uniform(-3, 3, 400), rng.uniform(-3, 3, 400), rng.uniform(-0.5, 0.5, 400)])
    corners = [p.corners() for p in prims]
    got = occluded(points, light, [(p, p.centre, p.axes) for p in prims], corners)
    from openvggt.data.synth.render import Lighting, SceneGeometry

    geo = SceneGeometry(tuple(prims), (), Lighting(np.array([0, 0, 1.0]), np.ones(3), np.ones(3)))
    want = []
    for x in points.T:
        R, t = look_at(x, x + light)
        d, _ = trace_rays(geo, Camera(np.eye(3), R, t, 1, 1), np.zeros(1), np.zeros(1))
        want.append(np.isfinite(d[0]))
    want = np.array(want)
    assert 20 < want.sum() < 380, "the test needs both lit and shadowed points"
    np.testing.assert_array_equal(got, want)


def test_bilinear_texture_lookup_hits_texel_centres_and_wraps():
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3) * 3
    tex = Texture.from_image("t", image)
    s = (np.array([0, 5, 2]) + 0.5) / 6
    t = (np.array([0, 3, 1]) + 0.5) / 4
    rgb = tex.sample(s.astype(np.float32), t.astype(np.float32), np.zeros(3, np.int32))
    np.testing.assert_allclose(rgb.T * 255, image[[0, 3, 1], [0, 5, 2]], atol=1e-3)
    # Half-way between the last and the first column wraps around.
    edge = tex.sample(np.array([1.0], np.float32), np.array([0.5 / 4], np.float32), np.zeros(1, np.int32))
    np.testing.assert_allclose(edge[:, 0] * 255, (image[0, 5].astype(float) + image[0, 0]) / 2, atol=1e-3)
    # Coarser levels are 2x2 means of the finer ones.
    coarse = tex.sample(np.array([0.1], np.float32), np.array([0.1], np.float32), np.ones(1, np.int32))
    np.testing.assert_allclose(coarse[:, 0] * 255, image[:2, :2].reshape(-1, 3).mean(0), atol=0.51)

"""``openvggt view OUT_DIR``: an interactive viewer of a reconstruction, served by viser.

viser's wheel carries its built web client, so the viewer works with no network. The GUI has a
confidence-percentile slider, a frame-range slider, the point size, the point source (depth +
cameras, or the point head when it ran), the cameras before bundle adjustment (when BA ran), and
toggles for the camera frustums (with their images) and the trajectory through the camera centres.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
import torch

from openvggt.geometry.rotation import mat_to_quat
from openvggt.viz.scene import ViewerScene

log = logging.getLogger(__name__)

MAX_VIEWER_POINTS = 1_000_000  # what a browser draws smoothly; the GUI says when it is reached
SOURCE_LABELS = {"depth + cameras": "depth", "point head": "point"}


def _rotation_wxyz(c2w_rotation: np.ndarray) -> np.ndarray:
    """viser's ``wxyz`` quaternion of a ``[3, 3]`` rotation (openvggt's quaternions are ``xyzw``)."""
    x, y, z, w = mat_to_quat(torch.from_numpy(np.ascontiguousarray(c2w_rotation, np.float64))).tolist()
    return np.array([w, x, y, z])


@dataclass
class ViewerSettings:
    source: str = "depth"
    conf_percentile: float = 50.0
    frames: tuple[int, int] = (0, 0)
    point_size: float = 0.0  # 0: chosen from the scene's extent
    before_ba: bool = False
    show_cameras: bool = True
    show_trajectory: bool = True


class SceneViewer:
    """The scene nodes and GUI of one :class:`ViewerScene` on a ``viser.ViserServer``."""

    def __init__(self, server, scene: ViewerScene, max_points: int = MAX_VIEWER_POINTS) -> None:  # noqa: ANN001
        self.server, self.scene, self.max_points = server, scene, max_points
        # a chunked run's cloud is already cut at its confidence threshold: start from all of it
        conf = 0.0 if scene.is_chunked else 50.0
        self.settings = ViewerSettings(frames=(0, scene.num_frames - 1), conf_percentile=conf)
        self._lock = threading.Lock()
        points, _ = scene.select("depth", 0.0)
        extent = float(np.linalg.norm(np.ptp(points, axis=0))) if len(points) else 1.0
        self.extent = extent if np.isfinite(extent) and extent > 0 else 1.0
        self.settings.point_size = self.extent / 600
        self.centre = np.median(points, axis=0) if len(points) else np.zeros(3)
        server.scene.set_up_direction("-y")  # OpenCV: y points down
        server.on_client_connect(self._place_camera)
        self._build_gui()
        self.update()

    def _place_camera(self, client) -> None:  # noqa: ANN001
        """Start each browser behind and above the first camera, looking at the middle of the cloud."""
        w2c = self.scene.extrinsics[0]
        rotation = w2c[:, :3]
        centre = -rotation.T @ w2c[:, 3]
        forward, down = rotation[2], rotation[1]  # camera z and y axes in world coordinates
        client.camera.position = centre - 0.5 * self.extent * forward - 0.3 * self.extent * down
        client.camera.look_at = self.centre
        client.camera.up_direction = -down

    # ------------------------------------------------------------------------------------------ GUI
    def _build_gui(self) -> None:
        gui, s, scene = self.server.gui, self.settings, self.scene
        if scene.is_chunked:
            gui.add_markdown(f"**{scene.num_frames} frames**, chunked: the fused cloud (frames select cameras)")
        else:
            gui.add_markdown(f"**{scene.num_frames} frames**, input {scene.image_hw[1]}x{scene.image_hw[0]}")
        self.conf = gui.add_slider("confidence percentile", 0.0, 99.0, 1.0, s.conf_percentile)
        if scene.num_frames > 1:
            self.frames = gui.add_multi_slider("frames", 0, scene.num_frames - 1, 1, s.frames, min_range=0)
        else:
            self.frames = None
        self.size = gui.add_slider("point size", self.extent / 6000, self.extent / 60, self.extent / 6000, s.point_size)
        self.source = None
        if scene.has_point_map:
            self.source = gui.add_dropdown("points from", tuple(SOURCE_LABELS), initial_value="depth + cameras")
        self.before = gui.add_checkbox(scene.before_label, False) if scene.has_ba else None
        self.cams = gui.add_checkbox("camera frustums", True)
        self.traj = gui.add_checkbox("trajectory", True)
        self.status = gui.add_markdown("")
        for handle in (self.conf, self.frames, self.size, self.source, self.before, self.cams, self.traj):
            if handle is not None:
                handle.on_update(lambda _event: self.update())

    def _read_gui(self) -> None:
        s = self.settings
        s.conf_percentile = float(self.conf.value)
        s.frames = tuple(int(v) for v in self.frames.value) if self.frames is not None else (0, 0)
        s.point_size = float(self.size.value)
        s.source = SOURCE_LABELS[self.source.value] if self.source is not None else "depth"
        s.before_ba = bool(self.before.value) if self.before is not None else False
        s.show_cameras, s.show_trajectory = bool(self.cams.value), bool(self.traj.value)

    # ------------------------------------------------------------------------------------------ scene
    def update(self, from_gui: bool = True) -> int:
        """Redraw from the GUI's values (or from ``self.settings`` with ``from_gui=False``); returns #points."""
        with self._lock:
            if from_gui:
                self._read_gui()
            s, scene = self.settings, self.scene
            points, colors = scene.select(
                s.source, s.conf_percentile, s.frames, s.before_ba and s.source == "depth", self.max_points
            )
            self.server.scene.add_point_cloud(
                "/points", points.reshape(-1, 3), colors.reshape(-1, 3), point_size=s.point_size, precision="float32"
            )
            self._cameras(s)
            capped = " (capped)" if len(points) >= self.max_points else ""
            self.status.content = f"{len(points):,} points{capped}"
            return len(points)

    def _cameras(self, s: ViewerSettings) -> None:
        scene = self.scene
        w2c = scene.cameras(s.before_ba)
        rotation = np.transpose(w2c[:, :, :3], (0, 2, 1))  # [S, 3, 3] camera-to-world
        centres = -np.einsum("sij,sj->si", rotation, w2c[:, :, 3])  # [S, 3]
        h, w = scene.image_hw
        first, last = s.frames
        for i in scene.frustum_frames():
            fy = scene.intrinsics[i, 1, 1]
            self.server.scene.add_camera_frustum(
                f"/cameras/{i}",
                fov=float(2 * np.arctan2(h / 2, fy)),
                aspect=w / h,
                scale=0.05 * self.extent,
                thickness=0.002 * self.extent,
                image=scene.frame_image(i),
                wxyz=_rotation_wxyz(rotation[i]),
                position=centres[i],
                color=(255, 107, 61) if not s.before_ba else (200, 200, 60),
                visible=s.show_cameras and first <= i <= last,
            )
        if len(centres) > 1:
            segments = np.stack([centres[:-1], centres[1:]], axis=1)  # [S - 1, 2, 3]
            self.server.scene.add_line_segments(
                "/trajectory", segments, (76, 195, 255), thickness=0.003 * self.extent, visible=s.show_trajectory
            )


def serve_viewer(scene: ViewerScene, host: str = "127.0.0.1", port: int = 8080):  # noqa: ANN201
    """Start a viser server showing ``scene``; returns ``(server, viewer)`` (the server runs in threads)."""
    import viser

    server = viser.ViserServer(host=host, port=port, verbose=False)
    return server, SceneViewer(server, scene)

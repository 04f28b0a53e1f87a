"""`openvggt view`: the viser scene and GUI, and the command's bad input."""

from __future__ import annotations

import socket

import pytest

from openvggt.cli import main
from tests.viz.conftest import synthetic_scene

viser = pytest.importorskip("viser", reason="openvggt view needs the viz extra: pip install 'openvggt[viz]'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    srv = viser.ViserServer(host="127.0.0.1", port=_free_port(), verbose=False)
    yield srv
    srv.stop()


def test_viewer_gui_drives_the_point_cloud(server):
    from openvggt.viz.viewer import SceneViewer

    viewer = SceneViewer(server, synthetic_scene())
    everything = viewer.update()
    assert everything > 0 and viewer.status.content.startswith(f"{everything:,} points")
    viewer.conf.value = 90.0  # a GUI change redraws through its callback
    assert viewer.settings.conf_percentile == 90.0 and viewer.update() < everything
    viewer.conf.value = 0.0
    viewer.frames.value = (1, 1)
    assert viewer.update() == 14 * 21  # one frame of the synthetic scene, every pixel
    assert viewer.source is not None and viewer.before is not None  # point head and BA present: both offered
    viewer.source.value = "point head"
    viewer.before.value = True
    viewer.update()
    assert viewer.settings.source == "point" and viewer.settings.before_ba


def test_viewer_hides_options_the_scene_lacks(server):
    from openvggt.viz.viewer import SceneViewer

    scene = synthetic_scene(frames=1, with_ba=False)
    scene.world_points = scene.world_points_conf = None
    viewer = SceneViewer(server, scene)
    assert viewer.source is None and viewer.before is None and viewer.frames is None
    assert viewer.update() > 0


def test_view_command_bad_input(tmp_path, capsys):
    assert main(["view", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    assert main(["view", str(tmp_path)]) == 2
    assert "no predictions.npz" in capsys.readouterr().err


def test_viewer_of_a_chunked_run(server, chunked_output):
    from openvggt.viz.scene import load_scene
    from openvggt.viz.viewer import SceneViewer

    viewer = SceneViewer(server, load_scene(chunked_output))
    assert viewer.settings.conf_percentile == 0.0  # the written cloud, already filtered
    assert viewer.update() == viewer.scene.cloud[0].shape[0]
    assert viewer.source is None

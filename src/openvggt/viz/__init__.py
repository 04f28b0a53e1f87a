"""Looking at reconstructions: the browser viewer (three.js, inlined into report.html and served by
``openvggt serve``) and the interactive viser viewer of ``openvggt view``.

Layer: above ``io``/``runtime``/``predictor``/``data``, below ``pipeline`` (which embeds the browser
viewer in its report); nothing here imports the pipeline.
"""

from openvggt.viz.scene import ViewerScene, load_scene
from openvggt.viz.web import MAX_WEB_POINTS, scene_payload, viewer_html, web_payload

__all__ = ["MAX_WEB_POINTS", "ViewerScene", "load_scene", "scene_payload", "viewer_html", "web_payload"]

"""Point tracking head (one copy, used by the model and the pipelines)."""

from openvggt.models.heads.track.head import TrackHead

__all__ = ["TrackHead"]

"""Prediction heads: camera, DPT (depth / point map / track features) and point tracking."""

from openvggt.models.heads.camera import CameraHead
from openvggt.models.heads.dpt import DPTHead

__all__ = ["CameraHead", "DPTHead"]

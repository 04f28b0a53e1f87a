"""Prediction heads: camera, DPT (depth / point map / track features) and point tracking."""

from openvggt.heads.camera import CameraHead
from openvggt.heads.dpt import DPTHead

__all__ = ["CameraHead", "DPTHead"]

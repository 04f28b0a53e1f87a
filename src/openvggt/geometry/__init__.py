"""Pure geometry functions: rotations, pose encoding, SE(3)/Sim(3), (un)projection, alignment.

Conventions: OpenCV cameras (x right, y down, z forward), world-to-camera extrinsics
``[R | t]`` (``X_cam = R X_world + t``), quaternions ``xyzw`` (scalar last).
"""

from .alignment import Sim3, align_cameras_sim3, umeyama_alignment
from .pose_encoding import POSE_ENCODING_TYPES, extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
from .projection import cam_from_img, img_from_cam, project_world_points_to_cam
from .rotation import mat_to_quat, quat_to_mat, standardize_quaternion
from .se3 import camera_centers, closed_form_inverse_se3, to_homogeneous
from .unprojection import (
    depth_to_cam_coords,
    depth_to_world_coords_points,
    unproject_depth,
    unproject_depth_map_to_point_map,
)

__all__ = [
    "POSE_ENCODING_TYPES",
    "Sim3",
    "align_cameras_sim3",
    "cam_from_img",
    "camera_centers",
    "closed_form_inverse_se3",
    "depth_to_cam_coords",
    "depth_to_world_coords_points",
    "extri_intri_to_pose_encoding",
    "img_from_cam",
    "mat_to_quat",
    "pose_encoding_to_extri_intri",
    "project_world_points_to_cam",
    "quat_to_mat",
    "standardize_quaternion",
    "to_homogeneous",
    "umeyama_alignment",
    "unproject_depth",
    "unproject_depth_map_to_point_map",
]

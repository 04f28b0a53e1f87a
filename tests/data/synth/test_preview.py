"""Contact sheets: depth colouring and layout."""

from __future__ import annotations

import numpy as np

from openvggt.data.synth.preview import colour_depth, contact_sheet


def test_colour_depth_keeps_sky_black_and_orders_near_to_far():
    depth = np.array([[0.0, 1.0, 2.0, 8.0]], np.float32)
    rgb = colour_depth(depth).astype(int)
    assert (rgb[0, 0] == 0).all()
    assert rgb[0, 1, 0] > rgb[0, 3, 0] and rgb[0, 3, 2] > rgb[0, 1, 2]  # near red, far blue


def test_contact_sheet_shape():
    frame = (np.zeros((30, 40, 3), np.uint8), np.ones((30, 40), np.float32))
    sheet = contact_sheet([[frame, frame], [frame]], cell=20, gap=2)
    assert sheet.shape == (2 * (2 * 20 + 4), 2 * 22, 3) and sheet.dtype == np.uint8

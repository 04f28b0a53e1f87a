"""Pose encoding absT_quaR_FoV: fixture parity, the spec's worked example, round trips, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from openvggt.geometry import extri_intri_to_pose_encoding, pose_encoding_to_extri_intri, quat_to_mat
from tests.conftest import rel_err

FLOAT32_ULP_AT_2 = 2.0**-22  # spacing of float32 numbers in [2, 4); FoVs here are below pi


@pytest.fixture(scope="module")
def geometry(parity_dir):
    meta = json.loads((parity_dir / "geometry.json").read_text())
    return load_file(str(parity_dir / "geometry.safetensors")), tuple(meta["image_size_hw"])


def test_decode_matches_fixture(geometry):
    ref, hw = geometry
    extrinsics, intrinsics = pose_encoding_to_extri_intri(ref["pose_enc"], hw)
    assert extrinsics.dtype == intrinsics.dtype == torch.float64  # float64 kept
    assert rel_err(extrinsics, ref["extrinsics"]) < 1e-9
    # The official intrinsics are float32: cast ours the same way to compare bit for bit.
    assert rel_err(intrinsics.float(), ref["intrinsics"]) < 1e-9
    assert rel_err(intrinsics, ref["intrinsics"]) < 2**-23


def test_encode_matches_fixture(geometry):
    ref, hw = geometry
    encoding = extri_intri_to_pose_encoding(ref["extrinsics"], ref["intrinsics"], hw)
    expected = ref["pose_enc_roundtrip"].double()
    assert encoding.shape == (2, 5, 9)
    # Translation and quaternion come from float64 extrinsics.
    assert rel_err(encoding[..., :7].float(), expected[..., :7]) < 1e-9
    # The FoVs come from float32 intrinsics through a float32 atan, whose last bit depends on the
    # math library; allow one float32 ulp there and nothing more.
    assert float((encoding[..., 7:] - expected[..., 7:]).abs().max()) <= FLOAT32_ULP_AT_2


def test_float64_round_trip_recovers_the_encoding(geometry):
    ref, hw = geometry
    encoding = ref["pose_enc"]
    extrinsics, intrinsics = pose_encoding_to_extri_intri(encoding, hw)
    again = extri_intri_to_pose_encoding(extrinsics, intrinsics, hw)
    assert again.dtype == torch.float64
    quat = encoding[..., 3:7] / encoding[..., 3:7].norm(dim=-1, keepdim=True)
    quat = torch.where(quat[..., 3:] < 0, -quat, quat)
    expected = torch.cat((encoding[..., :3], quat, encoding[..., 7:]), dim=-1)
    assert rel_err(again, expected) < 1e-12


def test_spec_worked_example():
    axis = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / math.sqrt(14)
    quat = torch.cat((axis * math.sin(0.35), torch.tensor([math.cos(0.35)], dtype=torch.float64)))
    extrinsics = torch.cat((quat_to_mat(quat), torch.tensor([[0.1], [-0.2], [0.3]], dtype=torch.float64)), dim=1)
    intrinsics = torch.tensor([[400.0, 0, 259], [0, 380, 196], [0, 0, 1]], dtype=torch.float64)
    encoding = extri_intri_to_pose_encoding(extrinsics[None, None], intrinsics[None, None], (392, 518))
    expected = torch.tensor(
        [0.1, -0.2, 0.3, 0.0916433, 0.1832866, 0.2749299, 0.9393727, 0.9523985, 1.1492314],
        dtype=torch.float64,
    )
    # The spec lists float32 results to 7 decimals: allow rounding plus one float32 ulp.
    torch.testing.assert_close(encoding[0, 0], expected, atol=5e-8 + 2**-23, rtol=0)
    _, decoded = pose_encoding_to_extri_intri(encoding, (392, 518))
    # (259, 196) is the image centre (W/2, H/2), where decoding puts the principal point.
    expected_k = torch.tensor([[400.0, 0, 259], [0, 380, 196], [0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(decoded[0, 0], expected_k, atol=1e-10, rtol=0)
    _, other_size = pose_encoding_to_extri_intri(encoding, torch.tensor([100, 50]))
    assert other_size[0, 0, 0, 2] == 25 and other_size[0, 0, 1, 2] == 50


def test_float32_stays_float32_and_leading_dims_are_free():
    encoding = torch.rand(4, 9)
    encoding[:, 7:] = encoding[:, 7:] + 0.5
    extrinsics, intrinsics = pose_encoding_to_extri_intri(encoding, (28, 42))
    assert extrinsics.shape == (4, 3, 4) and intrinsics.shape == (4, 3, 3)
    assert extrinsics.dtype == intrinsics.dtype == torch.float32
    assert extri_intri_to_pose_encoding(extrinsics, intrinsics, (28, 42)).dtype == torch.float32


def test_build_intrinsics_false_needs_no_image_size():
    extrinsics, intrinsics = pose_encoding_to_extri_intri(torch.rand(1, 2, 9), build_intrinsics=False)
    assert intrinsics is None and extrinsics.shape == (1, 2, 3, 4)


def test_errors_are_explicit():
    with pytest.raises(ValueError, match="image_size_hw"):
        pose_encoding_to_extri_intri(torch.rand(1, 2, 9))
    with pytest.raises(ValueError, match="unknown pose_encoding_type 'relT'"):
        pose_encoding_to_extri_intri(torch.rand(1, 2, 9), (14, 14), pose_encoding_type="relT")
    with pytest.raises(ValueError, match=r"\[\.\.\., 9\]"):
        pose_encoding_to_extri_intri(torch.rand(1, 2, 8), (14, 14))
    with pytest.raises(ValueError, match="extrinsics"):
        extri_intri_to_pose_encoding(torch.rand(1, 3, 3), torch.rand(1, 3, 3), (14, 14))
    with pytest.raises(ValueError, match="two positive numbers"):
        extri_intri_to_pose_encoding(torch.rand(1, 3, 4), torch.rand(1, 3, 3), (14, 0))

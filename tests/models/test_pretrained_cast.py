"""Reading weights cast tensor by tensor: same values as safetensors' own reader, metadata kept, bad files caught."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from openvggt.errors import CheckpointError
from openvggt.models.pretrained import read_state_dict


@pytest.fixture
def weights(tmp_path):
    g = torch.Generator().manual_seed(0)
    state = {
        "a.weight": torch.randn(7, 5, generator=g),
        "b.half": torch.randn(3, generator=g).half(),
        "c.index": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "d.empty": torch.zeros(0, 4),
        "e.scalar": torch.tensor(2.5),
    }
    path = tmp_path / "w.safetensors"
    save_file(state, str(path), metadata={"k": "v"})
    return path


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16])
def test_cast_on_read_matches_library(weights, dtype):
    ref = load_file(str(weights))
    got, meta = read_state_dict(weights, dtype)
    assert meta == {"k": "v"} and set(got) == set(ref)
    for k, v in ref.items():
        want = v.to(dtype) if v.is_floating_point() else v
        assert got[k].dtype == want.dtype and got[k].shape == want.shape
        assert torch.equal(got[k], want)


def test_no_dtype_reads_as_stored(weights):
    got, _ = read_state_dict(weights)
    assert got["b.half"].dtype == torch.float16 and got["a.weight"].dtype == torch.float32


def test_truncated_file_is_a_checkpoint_error(weights):
    data = weights.read_bytes()
    weights.write_bytes(data[:-8])
    with pytest.raises(CheckpointError):
        read_state_dict(weights, torch.bfloat16)

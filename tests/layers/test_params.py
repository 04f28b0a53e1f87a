"""gaussian_parameter: the values of ``randn * std``, and nothing drawn (nor torch._dynamo imported) on meta."""

import subprocess
import sys

import pytest
import torch

from openvggt.layers import gaussian_parameter


@pytest.mark.parametrize(("shape", "std"), [((1, 2, 1, 64), 1e-6), ((1, 16, 1, 8), 1.0), ((1, 2, 7), 0.5)])
def test_same_values_as_randn(shape, std):
    torch.manual_seed(11)
    expected = torch.randn(shape) * std
    torch.manual_seed(11)
    param = gaussian_parameter(*shape, std=std)
    assert isinstance(param, torch.nn.Parameter)
    assert torch.equal(param.data, expected)


def test_meta_build_stays_cheap():
    """Building every head on the meta device (the loader's path) must not pull in torch._dynamo: its import
    alone made the first model load of a process take 2.3 s instead of 0.3 s."""
    code = (
        "import sys, torch\n"
        "from openvggt.models.config import VGGTConfig\n"
        "from openvggt.models.vggt import VGGT\n"
        "cfg = VGGTConfig.preset('vggt-tiny').with_heads(camera=True, depth=True, point=True, track=True)\n"
        "with torch.device('meta'):\n"
        "    model = VGGT(cfg)\n"
        "assert all(p.is_meta for p in model.parameters())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr

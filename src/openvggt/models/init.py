"""Weight initialisation for training from scratch and for benchmarking with random weights.

``init_weights_`` follows the official recipe: trunc-normal(0.02) Linear weights with zero biases,
tiny (1e-6) camera/register tokens, LayerScale gains from the config, the tracker's flow head at
std 1e-3. Convolutions keep PyTorch's default initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from openvggt.layers.layer_scale import LayerScale
from openvggt.models.config import VGGTConfig
from openvggt.models.heads.camera import MATCH_INIT_SCALE
from openvggt.models.vggt import VGGT


@torch.no_grad()
def init_weights_(model: nn.Module, seed: int | None = None) -> nn.Module:
    """Initialise ``model`` in place (any device, including one materialised from meta).

    With a ``seed`` the result is deterministic and the global RNG is left untouched.
    """
    if seed is None:
        return _init(model, torch.Generator(device="cpu"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _init(model, torch.Generator(device="cpu").manual_seed(seed))


def _init(model: nn.Module, gen: torch.Generator) -> nn.Module:
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            _trunc_normal_(module.weight, 0.02, gen)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)) and module.weight is not None:
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            module.reset_parameters()
        elif hasattr(module, "in_proj_weight"):  # nn.MultiheadAttention and the tracker's own
            nn.init.xavier_uniform_(module.in_proj_weight, generator=gen)
            module.in_proj_bias.zero_()
        elif isinstance(module, LayerScale):
            init = 1.0 if "patch_embed" in name else _layer_scale_init(model, name)
            module.gamma.fill_(init)
    for module in model.modules():
        # The tracker's update transformer uses xavier-uniform Linear weights (official recipe).
        if type(module).__name__ == "UpdateTransformer" and hasattr(module, "reset_parameters"):
            module.reset_parameters()  # global RNG: seeded by init_weights_ when a seed is given
    for name, param in model.named_parameters(recurse=True):
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("camera_token", "register_token", "cls_token", "register_tokens"):
            param.copy_(torch.randn(param.shape, generator=gen) * 1e-6)
        elif leaf == "pos_embed":
            _trunc_normal_(param, 0.02, gen)
        elif leaf in ("mask_token", "empty_pose_tokens"):
            param.zero_()
        elif leaf in ("query_ref_token", "virual_tracks"):
            param.copy_(torch.randn(param.shape, generator=gen))
        elif name.endswith("flow_head.weight"):
            _trunc_normal_(param, 0.001, gen)
        elif name.endswith("motion.match.log_scale"):  # the camera head's matcher (camera_head.motion="match")
            param.fill_(math.log(MATCH_INIT_SCALE))
    return model


def _layer_scale_init(model: nn.Module, name: str) -> float:
    cfg = getattr(model, "config", None)
    if cfg is None:
        return 0.01
    if name.startswith("camera_head"):
        return cfg.camera_head.init_values
    return cfg.init_values


def _trunc_normal_(t: torch.Tensor, std: float, gen: torch.Generator) -> None:
    values = torch.empty(t.shape, dtype=torch.float32)
    nn.init.trunc_normal_(values, std=std, a=-2 * std, b=2 * std, generator=gen)
    t.copy_(values)


def random_model(
    config: VGGTConfig, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0
) -> VGGT:
    """A randomly initialised model built without a CPU detour (meta -> device), in eval mode."""
    with torch.device("meta"):
        model = VGGT(config)
    model = model.to_empty(device=device)
    init_weights_(model, seed)
    model.restore_buffers(device)
    return model.to(dtype).eval()

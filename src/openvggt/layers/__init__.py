"""Building blocks shared by the aggregator and the heads (one concept per module)."""

from openvggt.layers.attention import Attention, attention_math
from openvggt.layers.block import Block
from openvggt.layers.layer_scale import LayerScale
from openvggt.layers.linear import Linear, drop_cast_caches
from openvggt.layers.mlp import Mlp
from openvggt.layers.params import gaussian_parameter
from openvggt.layers.patch_embed import DinoV2Encoder, PatchEmbed, sincos_table
from openvggt.layers.rope import RotaryPositionEmbedding2D, patch_positions

__all__ = [
    "Attention",
    "Block",
    "DinoV2Encoder",
    "LayerScale",
    "Linear",
    "Mlp",
    "PatchEmbed",
    "RotaryPositionEmbedding2D",
    "attention_math",
    "drop_cast_caches",
    "gaussian_parameter",
    "patch_positions",
    "sincos_table",
]

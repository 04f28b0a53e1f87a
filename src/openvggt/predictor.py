"""``Predictor``: the one way into the model, for users and for every internal caller.

A ``Predictor`` loads weights once (or wraps a model already built), resolves the device and the precision
(:mod:`openvggt.runtime`), preprocesses whatever images it is given exactly as the official code does, runs the
model under the right precision and returns the model's output with the cameras decoded::

    from openvggt import Predictor

    predictor = Predictor("facebook/VGGT-1B")              # device="auto", dtype="auto"
    out = predictor(["a.jpg", "b.jpg", "c.jpg"])           # paths, numpy arrays, PIL images or a tensor
    out["depth"], out.extrinsic, out.intrinsic             # [B, S, H, W, 1], [B, S, 3, 4], [B, S, 3, 3]

Shape legend: B scenes, S frames, H x W model input (multiples of 14), N query points.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from openvggt.errors import InputError, UserError
from openvggt.geometry import pose_encoding_to_extri_intri
from openvggt.io.images import ImageMeta, ImageSource, load_images
from openvggt.models.config import VGGTConfig
from openvggt.models.heads.track.head import MIN_TRACK_SIDE
from openvggt.models.pretrained import DEFAULT_MODEL_CAVEAT, is_default_weights
from openvggt.models.vggt import HEADS, VGGT, Intermediates, VGGTOutput
from openvggt.quant import quantize_int8
from openvggt.runtime import (
    autocast,
    compile_model,
    describe_device,
    int8_engine,
    int8_reduce_range,
    load_dtype,
    resolve_device,
    resolve_dtype,
    torch_dtype,
)

log = logging.getLogger(__name__)

__all__ = ["Predictor", "PredictorOutput"]

Images = torch.Tensor | Sequence[ImageSource] | ImageSource


@dataclass
class PredictorOutput(VGGTOutput):
    """:class:`VGGTOutput` (official keys) plus the decoded cameras and where each image went.

    ``extrinsic [B, S, 3, 4]`` is world-to-camera (OpenCV; world = first camera), ``intrinsic [B, S, 3, 3]`` is
    in model-input pixels; ``metas[i]`` maps image ``i``'s original pixels to the model input (file inputs).
    Tensors are float32 on the CPU unless the predictor was built with ``keep_on_device=True``.
    """

    extrinsic: torch.Tensor | None = None
    intrinsic: torch.Tensor | None = None
    metas: list[ImageMeta] | None = None
    intermediates: Intermediates | None = None  # with keep_intermediates=True (on the device, not converted)


class Predictor:
    """Weights + device + precision, loaded once; call it on images of one scene.

    Args:
        weights: file, folder, hub id or ``"default"`` (the shipped model); ignored when ``model`` is given.
        model: a :class:`VGGT` already built (moved to ``device``; its heads decide what can run).
        device: ``"auto"`` (CUDA, else MPS, else CPU) or a device name.
        dtype: ``"auto"`` (the fastest accurate precision of the device, see :mod:`openvggt.runtime`),
            ``"fp32"``, ``"bf16"``, ``"fp16"`` (CUDA) or ``"int8"`` (CPU).
        heads: heads to load and run by default (``None``: every head the weights have).
        config: a config or preset name for weights that carry none.
        mode, size: preprocessing of non-tensor inputs (``"crop"``/``"pad"``, width; default the model's).
        progress: a progress bar over the aggregator blocks and heads (terminals only).
        keep_on_device: return outputs where the model ran, in its dtype, instead of float32 on the CPU.
        compile: ``torch.compile`` the transformer blocks (paid on the first call of each input shape, then
            cached on disk, see :func:`openvggt.runtime.compile_model`).

    Memory: weights the predictor loads itself go straight into the precision they run in (bf16 on the CPU
    for ``bf16``, bf16 then int8 for ``int8``), never through an fp32 copy of the whole model. A ``model`` passed
    in is used as it is, except that ``dtype="int8"`` quantises its linear layers in place.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        model: VGGT | None = None,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        heads: Iterable[str] | None = None,
        config: VGGTConfig | str | None = None,
        mode: str = "crop",
        size: int | None = None,
        progress: bool = False,
        keep_on_device: bool = False,
        compile: bool = False,  # noqa: A002 - the natural name, as in torch
    ) -> None:
        if model is not None and weights is not None:
            raise UserError("give Predictor either weights or model, not both")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        if compile and self.dtype == "int8":
            # Measured with torch 2.13: compiled blocks around torch.ao's quantised linears gave wrong outputs and
            # heap corruption ("malloc(): unaligned tcache chunk detected"), and the graph breaks at every linear.
            raise UserError(
                "compile=True does not work with dtype int8 (torch.compile around the quantised linear "
                "layers gave wrong results); use int8 without compile, or compile with auto/fp32/bf16"
            )
        heads = None if heads is None else tuple(heads)
        if model is None:
            source = "default" if weights is None else weights
            model = VGGT.from_pretrained(
                source, config=config, device=self.device, heads=heads, dtype=load_dtype(self.device, self.dtype)
            )
            self.weights = str(weights or "default")
            if is_default_weights(source):
                log.warning(DEFAULT_MODEL_CAVEAT)  # every job and library user of the shipped model hears it once
        else:
            model = model.to(self.device).eval()
            self.weights = "<model>"
        if self.dtype == "int8":
            engine = int8_engine()
            model = quantize_int8(model, engine=engine, reduce_range=int8_reduce_range(engine))
        if compile:
            compile_model(model)
        self.compiled = compile
        self.model = model
        self.heads = heads or model.enabled_heads()
        if mode not in ("crop", "pad"):
            raise UserError(f"mode must be 'crop' or 'pad', got {mode!r}")
        self.mode = mode
        self.size = size or model.config.img_size
        if self.size % model.config.patch_size:
            raise UserError(f"size {self.size} must be a multiple of the patch size {model.config.patch_size}")
        self.progress = progress
        self.keep_on_device = keep_on_device
        log.debug("predictor: %s on %s, %s", self.weights, describe_device(self.device), self.dtype)

    @property
    def config(self) -> VGGTConfig:
        return self.model.config

    def __repr__(self) -> str:
        return (
            f"Predictor(weights={self.weights!r}, device={self.device}, dtype={self.dtype!r}, heads={self.heads}"
            f"{', compile=True' if self.compiled else ''})"
        )

    # ------------------------------------------------------------------------------------------ inputs
    def preprocess(self, images: Images) -> tuple[torch.Tensor, list[ImageMeta] | None]:
        """``[B, S, 3, H, W]`` in [0, 1] on the device, and the images' metas (None for tensor input)."""
        if isinstance(images, torch.Tensor):
            if images.ndim == 4:
                images = images.unsqueeze(0)  # [S, 3, H, W] -> [1, S, 3, H, W]
            if images.ndim != 5 or images.shape[2] != 3:
                raise InputError(f"image tensor must be [S, 3, H, W] or [B, S, 3, H, W], got {tuple(images.shape)}")
            p = self.config.patch_size
            if images.shape[-1] % p or images.shape[-2] % p:
                raise InputError(f"image tensor sides {tuple(images.shape[-2:])} must be multiples of {p}")
            return images.to(self.device, torch.float32), None
        if not isinstance(images, (list, tuple)):
            images = [images]
        if not images:
            raise InputError("no images given")
        tensor, metas = load_images(list(images), mode=self.mode, size=self.size, return_meta=True)
        return tensor.unsqueeze(0).to(self.device), metas  # [1, S, 3, H, W]

    # ------------------------------------------------------------------------------------------ running
    def precision(self) -> contextlib.AbstractContextManager:
        """The autocast context this predictor runs the model under."""
        return autocast(self.device, self.dtype)

    def __call__(
        self,
        images: Images,
        *,
        heads: Iterable[str] | None = None,
        query_points: torch.Tensor | None = None,
        keep_intermediates: bool = False,
        intermediate_layers: Iterable[int] = (),
    ) -> PredictorOutput:
        """Run the model on the images of one scene (or a ``[B, S, 3, H, W]`` batch of scenes).

        ``heads`` defaults to the predictor's heads (the track head only with ``query_points [N, 2]`` or
        ``[B, N, 2]`` in model-input pixels of frame 0). ``keep_intermediates`` keeps the tokens of the layers
        the track head reads (plus ``intermediate_layers``) so that tracks can be computed later without
        running the aggregator again.
        """
        tensor, metas = self.preprocess(images)
        run = self._heads(heads, query_points is not None)
        if "track" in run and min(tensor.shape[-2:]) < MIN_TRACK_SIDE:
            raise InputError(
                f"tracking needs a model input of at least {MIN_TRACK_SIDE} px per side, got "
                f"{tensor.shape[-1]}x{tensor.shape[-2]} (raise size or use mode='pad')"
            )
        layers = self.model.layers_for(run) | {i % self.config.depth for i in intermediate_layers}
        if keep_intermediates and "track" in self.model.enabled_heads():
            layers |= self.model.layers_for(("track",))
        with torch.inference_mode(), self.precision(), self._progress(run):
            inter = self.model.forward_intermediates(tensor, layers=layers)
            raw = self.model.forward_heads(inter, run, query_points, images=tensor) if run else VGGTOutput()
        out = self._convert(raw)
        out.metas = metas
        if out.pose_enc is not None:
            out.extrinsic, out.intrinsic = pose_encoding_to_extri_intri(out.pose_enc.float(), inter.image_hw)
        if keep_intermediates:
            out.intermediates = inter
        return out

    def _heads(self, heads: Iterable[str] | None, have_queries: bool) -> tuple[str, ...]:
        if heads is None:
            return tuple(h for h in self.heads if h != "track" or have_queries)
        heads = tuple(heads)
        for h in heads:
            if h not in HEADS:
                raise UserError(f"unknown head {h!r}; choose from {', '.join(HEADS)}")
            if h not in self.model.enabled_heads():
                raise UserError(f"these weights have no {h} head")
        return heads

    def _convert(self, raw: VGGTOutput) -> PredictorOutput:
        out = PredictorOutput()
        for name in raw:
            value = raw[name]
            if self.keep_on_device:
                setattr(out, name, value)
            elif isinstance(value, torch.Tensor):
                setattr(out, name, value.detach().to("cpu", torch.float32))
            elif isinstance(value, list):
                setattr(out, name, [v.detach().to("cpu", torch.float32) for v in value])
        return out

    @contextlib.contextmanager
    def _progress(self, heads: tuple[str, ...]) -> Iterator[None]:
        """A progress bar ticking once per aggregator block and head (terminals only)."""
        if not self.progress:
            yield
            return
        agg = self.model.aggregator
        blocks = [b for name in ("frame_blocks", "global_blocks") for b in getattr(agg, name, [])]
        modules = blocks + [m for m in (getattr(self.model, f"{h}_head", None) for h in heads) if m is not None]
        bar = tqdm(total=len(modules), desc="inference", unit="block", disable=None, leave=False)
        handles = [m.register_forward_hook(lambda *_: bar.update(1)) for m in modules]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            bar.close()

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype matrix products run in (int8 runs its non-linear parts in fp32)."""
        return torch_dtype(self.dtype)

"""Query points for tracking: Shi-Tomasi corners spread over the image (pure PyTorch).

The corner score is the smaller eigenvalue of the Gaussian-weighted structure tensor of the
grey image; local maxima (non-maximum suppression in a square window) are kept, at most a few per
grid cell so that the points cover the whole frame, best first.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["corner_score", "detect_corners"]


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``x [N, C, H, W]`` with reflect padding."""
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def corner_score(image: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Shi-Tomasi score ``[H, W]`` (min eigenvalue of the structure tensor) of ``image [3, H, W]`` in [0, 1]."""
    grey = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None, None].float()  # [1, 1, H, W]
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2  # central differences
    gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    moments = _gaussian_blur(torch.cat([gx * gx, gy * gy, gx * gy], dim=1), sigma)[0]  # [3, H, W]
    a, b, c = moments
    return (a + b) / 2 - torch.sqrt(((a - b) / 2) ** 2 + c**2)


def detect_corners(
    image: torch.Tensor,
    max_points: int,
    mask: torch.Tensor | None = None,
    nms_radius: int = 4,
    border: int = 8,
    grid: int = 8,
) -> torch.Tensor:
    """Up to ``max_points`` corners ``[N, 2]`` (x, y pixel centres at integers) of ``image [3, H, W]``.

    Args:
        mask: optional ``[H, W]`` bool, True where points may be picked (e.g. inside the image, not
            in padding).
        nms_radius: half size of the suppression window.
        border: pixels along the edges that are never picked.
        grid: the image is split into ``grid x grid`` cells, each allowed ``ceil(max_points / grid^2)``
            points first; the remaining budget goes to the best points left anywhere.
    """
    _, h, w = image.shape
    score = corner_score(image).double()
    # break exact ties (symmetric corners give plateaus) so that each peak keeps a single pixel
    ramp = torch.arange(h * w, dtype=score.dtype, device=score.device).reshape(h, w) / (h * w)
    score = score + ramp * 1e-6 * score.max().clamp_min(1e-12)
    window = 2 * nms_radius + 1
    peaks = score == F.max_pool2d(score[None, None], window, stride=1, padding=nms_radius)[0, 0]
    allowed = peaks & (score > 1e-3 * score.max().clamp_min(1e-12))
    allowed[:border], allowed[-border:], allowed[:, :border], allowed[:, -border:] = False, False, False, False
    if mask is not None:
        allowed &= mask.to(allowed.device)
    ys, xs = torch.nonzero(allowed, as_tuple=True)
    if len(xs) == 0:
        return torch.zeros(0, 2)
    values = score[ys, xs]
    order = torch.argsort(values, descending=True)
    xs, ys = xs[order], ys[order]
    cell = (ys * grid // h) * grid + (xs * grid // w)  # [K] cell index of each candidate
    rank = torch.zeros_like(cell)
    seen: dict[int, int] = {}
    for i, c in enumerate(cell.tolist()):  # rank of each candidate inside its cell, best first
        rank[i] = seen.get(c, 0)
        seen[c] = rank[i].item() + 1
    per_cell = math.ceil(max_points / grid**2)
    first = torch.nonzero(rank < per_cell)[:, 0]
    rest = torch.nonzero(rank >= per_cell)[:, 0]
    chosen = torch.cat([first, rest])[:max_points]
    chosen = chosen[torch.argsort(chosen)]  # back to best-first order
    return torch.stack([xs[chosen], ys[chosen]], dim=-1).float()

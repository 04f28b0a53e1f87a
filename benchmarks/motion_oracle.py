"""Can the camera head read poses from a motion field, and how good must the matches be?

    python benchmarks/motion_oracle.py TRAIN_ROOT HELDOUT_ROOT [--scenes 2000] [--heldout 40]
        [--outliers 0,0.3,0.55,0.8] [--minutes 3] [--threads 2] [--matcher WEIGHTS]

The camera head with ``camera_head.motion="match"`` reads each frame's motion field to frame 0 through
:meth:`~openvggt.models.heads.camera.FrameMotion.summarise`. Here that pooling and a camera head of the shipped
size are trained on their own, on *exact* motion fields computed from the scenes' GT depth and cameras (each
patch centre unprojected with its GT depth, moved into frame 0 and projected; kept where it lands inside frame 0),
with a share of the matches replaced by a random frame-0 patch (a wrong match that the pooling cannot tell from a
right one). The patch's log GT depth stands in for what the trunk's tokens carry. Scored on held-out scenes
(all frames, AUC@30 / RRA@15 / RTA@15 of all pairs, as the evaluation does) against the identity.

What it answers: whether this head *can* learn poses from matches (outliers 0), and how the figure falls with
the share of wrong matches; ``probe_diagnostics.py match`` says where a trained matcher stands.

``--no-overlap``: the masses no longer say which patches leave frame 0 (every patch with GT depth weighs alike);
with ``--outliers 1`` the head then sees depth alone, the floor of what matches add.
``--matcher WEIGHTS`` (a model with ``camera_head.motion="match"``): the same fresh head trained on the motion
fields, masses and mutual-best weights of that model's own (frozen) matcher instead of the exact ones, with the
same GT depth feature: whether the trained matcher's matches carry the pose, apart from how the full model trains.
"""

from __future__ import annotations

import sys
import time

import _diagnostics
import torch
from torch import nn

from openvggt.data.dataset import SceneDataset, scene_folders
from openvggt.data.sample import SampleConfig
from openvggt.geometry.pose_encoding import extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
from openvggt.io.checkpoint import load_model
from openvggt.layers import Linear
from openvggt.metrics.camera import camera_metrics
from openvggt.models.config import CameraHeadConfig
from openvggt.models.heads.camera import MOTION_TOKEN, CameraHead, FrameMotion, grid_positions
from openvggt.train.losses import LossConfig, camera_loss

PATCH = 14
# the camera loss of the long-run presets (L1 x 5, baseline-normalised translation)
LOSS = LossConfig(camera_loss_type="l1", camera_weight=5.0, trans_norm="baseline")


def motion_field(sample: dict, patch: int = PATCH) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact motion of every patch centre to frame 0 from GT depth and cameras.

    Returns ``motion [S, n, 2]`` (units of the image's longer side, as :func:`grid_positions`), ``valid [S, n]``
    (GT depth there and the point lands inside frame 0 in front of it), ``log_depth [S, n]`` and ``has_depth [S, n]``
    (GT depth there: a property of frame ``s`` alone, unlike ``valid``, which tells where frame 0 overlaps).
    """
    depth, ext, intr = sample["depths"].double(), sample["extrinsics"].double(), sample["intrinsics"].double()
    mask = sample["point_masks"]
    s, height, width = depth.shape
    h, w = height // patch, width // patch
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    u, v = (cols.flatten() + 0.5) * patch, (rows.flatten() + 0.5) * patch  # [n] pixel centres
    d = depth[:, v.long(), u.long()]  # [S, n]
    ok = mask[:, v.long(), u.long()] & (d > 0)
    pix = torch.stack([u, v, torch.ones_like(u)], 0).double()  # [3, n]
    cam = torch.linalg.inv(intr) @ pix * d[:, None]  # [S, 3, n] points in each frame's camera
    world = ext[:, :, :3].transpose(1, 2) @ (cam - ext[:, :, 3:])  # [S, 3, n]
    in0 = ext[0, :, :3] @ world + ext[0, :, 3:]  # [S, 3, n] in frame 0's camera
    proj = intr[0] @ in0
    uv0 = proj[:, :2] / proj[:, 2:].clamp_min(1e-9)  # [S, 2, n]
    inside = (in0[:, 2] > 1e-6) & (uv0[:, 0] >= 0) & (uv0[:, 0] < width) & (uv0[:, 1] >= 0) & (uv0[:, 1] < height)
    motion = (uv0 - torch.stack([u, v], 0).double()).transpose(1, 2) / max(height, width)  # [S, n, 2]
    valid = ok & inside
    log_depth = torch.where(ok, d.clamp_min(1e-6).log(), 0.0).float()
    return motion.float() * valid[..., None], valid, log_depth, ok


def with_outliers(motion: torch.Tensor, valid: torch.Tensor, rate: float, pos: torch.Tensor, g: torch.Generator):
    """Replace a ``rate`` share of the valid matches by a random frame-0 patch (frame 0's own matches stay)."""
    if rate <= 0:
        return motion
    wrong = (torch.rand(valid.shape, generator=g) < rate) & valid
    wrong[..., 0, :] = False
    target = pos[torch.randint(len(pos), valid.shape, generator=g)]  # [..., S, n, 2] a random patch centre
    return torch.where(wrong[..., None], target - pos, motion)


class OracleHead(nn.Module):
    """FrameMotion's pooling + a shipped-size camera head, fed motion fields instead of a matcher's."""

    def __init__(self, dim: int = 128):
        super().__init__()
        self.motion = FrameMotion(dim, init_values=1.0)
        self.depth_embed = Linear(2, MOTION_TOKEN)
        self.frame_token = nn.Parameter(torch.randn(2, dim) * 0.02)  # frame 0, the others
        self.head = CameraHead(dim, CameraHeadConfig(trunk_depth=1, num_heads=8, init_values=1.0))

    def forward(self, pos, motion, has_depth, log_depth, mass, trust) -> list[torch.Tensor]:  # noqa: ANN001
        """Exact fields: ``mass = trust = valid`` (a perfect matcher knows which patches leave frame 0); a matcher's:
        its own window mass and mutual-best weight. The depth feature sees frame ``s`` only."""
        s = motion.shape[1]
        feats = self.depth_embed(torch.stack([log_depth, has_depth.float()], -1))
        summary = self.motion.summarise(pos, motion, mass, trust, feats)  # [B, S, dim]
        marker = self.frame_token[torch.clamp(torch.arange(s), max=1)]  # [S, dim]
        return self.head(summary + marker)


def matcher_field(model, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """A trained model's own motion field ``[S, n, 2]``, window mass and mutual-best trust ``[S, n]``."""
    last = model.config.depth - 1
    with torch.no_grad():
        grid = model.forward_intermediates(images[None], layers=[last]).patch_grid(last)  # [1, S, h, w, 2C]
        f = model.camera_head.motion.fields(grid)
    return f.motion[0], f.mass[0], f.trust[0]


def load(root: str, count: int, frames: int, size: int, matcher=None, overlap: bool = True) -> dict[str, torch.Tensor]:  # noqa: ANN001
    cfg = SampleConfig(img_size=size, min_height=size, min_frames=frames, max_frames=frames, augment=False)
    ds = SceneDataset(scene_folders(root)[:count], cfg)
    keys = ("motion", "valid", "has_depth", "log_depth", "enc", "ext", "mass", "trust")
    out: dict[str, list] = {k: [] for k in keys}
    for i in range(len(ds)):
        sample = ds[i]
        m, v, ld, hd = motion_field(sample)
        mass = trust = (v if overlap else hd).float()  # without the overlap: every patch with depth counts alike
        if matcher is not None:
            m, mass, trust = matcher_field(matcher, sample["images"])
        hw = tuple(sample["images"].shape[-2:])
        out["motion"].append(m)
        out["valid"].append(v)
        out["has_depth"].append(hd)
        out["mass"].append(mass)
        out["trust"].append(trust)
        out["log_depth"].append(ld)
        out["enc"].append(extri_intri_to_pose_encoding(sample["extrinsics"], sample["intrinsics"], hw).float())
        out["ext"].append(sample["extrinsics"])
    return {k: torch.stack(v) for k, v in out.items()}


def evaluate(model: OracleHead, data: dict, pos: torch.Tensor, rate: float, size: int) -> dict[str, float]:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        motion = with_outliers(data["motion"], data["valid"], rate, pos, g)
        enc = model(pos, motion, data["has_depth"], data["log_depth"], data["mass"], data["trust"])[-1]
    ext, _ = pose_encoding_to_extri_intri(enc, image_size_hw=(size, size))
    return score(ext, data)


def identity(data: dict) -> dict[str, float]:
    return score(torch.eye(3, 4).expand_as(data["ext"]), data)


def score(pred_ext: torch.Tensor, data: dict) -> dict[str, float]:
    """Mean over scenes of the evaluation's AUC@30 / RRA@15 / RTA@15, predictions ``[scenes, S, 3, 4]``."""
    return _diagnostics.mean_camera_metrics(
        [camera_metrics(p.numpy(), gt.numpy()) for p, gt in zip(pred_ext, data["ext"], strict=True)]
    )


def main(argv: list[str] | None = None) -> int:
    p = _diagnostics.probe_parser(__doc__, minutes=3.0)  # --minutes: training time per outlier rate
    p.add_argument("--frames", type=int, default=4, help="frames a training scene (held-out scenes: all 8)")
    p.add_argument("--outliers", default="0,0.3,0.55,0.8")
    p.add_argument("--matcher", help="a model with camera_head.motion='match': train on its matches instead")
    p.add_argument("--no-overlap", action="store_true", help="exact fields: do not tell which patches leave frame 0")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    matcher = None
    if args.matcher:
        matcher = load_model(args.matcher).eval()
        if getattr(matcher.camera_head, "motion", None) is None:
            raise SystemExit(f"{args.matcher}: its camera head does not match patches (camera_head.motion is 'none')")
    t0 = time.perf_counter()
    train = load(args.train_root, args.scenes, args.frames, args.size, matcher, not args.no_overlap)
    held = load(args.heldout_root, args.heldout, 8, args.size, matcher, not args.no_overlap)
    h = w = args.size // PATCH
    pos = grid_positions(h, w, torch.device("cpu"))
    n = len(train["enc"])
    print(f"{n} training scenes x {args.frames} frames, {len(held['enc'])} held-out scenes x 8 frames, "
          f"{h}x{w} patches; loaded in {time.perf_counter() - t0:.0f} s")  # fmt: skip
    source = f"the matcher of {args.matcher} (frozen)" if matcher is not None else "exact (GT depth and cameras)"
    if matcher is None and args.no_overlap:
        source += ", no overlap mask"
    print(f"motion fields: {source}; 'wrong matches' = the share replaced by a random frame-0 patch")
    base = identity(held)
    print("| wrong matches | steps | AUC@30 | RRA@15 | RTA@15 |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| identity | – | {base['auc30']:.1f} | {base['rra15']:.1f} | {base['rta15']:.1f} |")
    for rate in (float(r) for r in args.outliers.split(",")):
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        model = OracleHead()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.minutes * 60:
            idx = torch.randint(n, (args.batch,), generator=g)
            motion = with_outliers(train["motion"][idx], train["valid"][idx], rate, pos, g)
            preds = model(pos, motion, train["has_depth"][idx], train["log_depth"][idx], train["mass"][idx],
                          train["trust"][idx])  # fmt: skip
            loss = camera_loss(preds, train["enc"][idx], cfg=LOSS)["loss_camera"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        m = evaluate(model, held, pos, rate, args.size)
        print(f"| {100 * rate:.0f} % | {steps} | {m['auc30']:.1f} | {m['rra15']:.1f} | {m['rta15']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

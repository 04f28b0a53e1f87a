"""Cameras solved from image matches and the model's depth (``reconstruct --cameras matches``).

The camera head of a weak model (the shipped ``vggt-small``: AUC@30 ~2) predicts a near-constant pose, while two
views fix their relative rotation and translation *direction* from matched pixels alone; the model's depth then
gives each translation its length (``docs/training_study.md`` §18-19). Steps:

1. match: SIFT (OpenCV) on the ORIGINAL images brought to 768 px a side (``max_side`` / ``min_side``: larger ones
   reduced, smaller ones enlarged, which finds more matches on 640-px photographs and 256-px renders), Lowe's ratio
   test, for each frame against frame 0, the ``window`` frames before it and the ``neighbours`` frames its strongest
   features match most often (a cheap retrieval over all pairs, for photographs in no particular order);
2. focal length: ``SolveOptions.focal`` when given; else from EXIF (35 mm equivalent) when every image has it;
   else, when all images have one size, self-calibrated with the principal point at the image centre: the focal
   length under which the points a pair triangulates are seen best by a third camera (:func:`register_focal`),
   among a grid and the two-view estimate (:func:`self_calibrate`, the focal length whose ``K^T F K`` are nearest
   to essential matrices, which fails when the cameras fixate one point); otherwise the camera head's;
3. relative poses: five-point USAC (OpenCV's RANSAC with local optimisation: ~10x more precise than its plain
   RANSAC on noisy matches) on the essential matrix and the cheirality check, per pair; the translation
   length from the model's depth at the pair's inliers (median of model depth / triangulated depth);
4. a spanning tree grown from frame 0 along the pairs with most inliers: each frame's camera is its parent's
   composed with the pair's relative pose. Frames no pair reaches keep the camera head's pose (a warning).

Matches are in original-image pixels with the corner at (0, 0) (the pipeline's convention for ``intrinsics``);
OpenCV's keypoints have pixel centres at integers, hence the half-pixel shifts. Needs ``opencv-python-headless``
(``pip install 'openvggt[recon]'``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from openvggt.errors import UserError
from openvggt.io.images import ImageMeta, load_image_rgb
from openvggt.pipeline.frame import InputFrame

log = logging.getLogger(__name__)

Pairs = dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]  # (i, j) -> matched pixels [M, 2] in i and in j


def _thread_map(fn, items):  # noqa: ANN001, ANN202
    """``[fn(x) for x in items]`` on one thread per torch thread: OpenCV and numpy release the GIL in the work that
    counts here (SIFT, USAC, PnP, SVDs). OpenCV's USAC seeds itself, so the results do not depend on the order."""
    items = list(items)
    workers = max(1, min(len(items), torch.get_num_threads()))
    if workers == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


@dataclass(frozen=True)
class SolveOptions:
    max_side: int = 768  # images are matched at this longer side at most
    min_side: int = 768  # ... and at least: smaller ones are enlarged (SIFT then finds more features that match)
    features: int = 2000  # SIFT keypoints per image, at most
    ratio: float = 0.8  # Lowe's ratio test
    window: int = 3  # each frame is matched to frame 0 and to this many frames before it
    neighbours: int = 4  # ... and to the frames its strongest features match most often (any capture order)
    retrieval_features: int = 400  # the strongest features per frame that choose those neighbours
    ransac_px: float = 1.0  # epipolar inlier threshold, pixels of the matched images
    min_inliers: int = 20  # a pair with fewer inliers is not used
    focal_pairs: int = 16  # the strongest pairs whose triangulated points test each candidate focal length
    focal: float | None = None  # a known focal length in original pixels (else EXIF, else solved)


@dataclass
class SolvedCameras:
    """The outcome of :func:`solve_cameras`: cameras for every frame and how each was found."""

    extrinsics: np.ndarray  # [S, 3, 4] world-to-camera, world = frame 0
    intrinsics: np.ndarray  # [S, 3, 3] original pixels
    solved: np.ndarray  # [S] bool: from matches (frame 0 included) rather than the camera head
    parent: np.ndarray  # [S] int: the frame each one was solved from (-1: frame 0 or not solved)
    inliers: np.ndarray  # [S] int: inliers of that pair
    focal_source: str  # "EXIF", "self-calibrated" or "camera head"
    pairs: int = 0  # frame pairs matched
    notes: list[str] = field(default_factory=list)
    inlier_matches: Pairs = field(default_factory=dict)  # each solved pair's inlier matches (original pixels)

    def tracks(self) -> tuple[np.ndarray, np.ndarray]:
        """The inlier matches chained into tracks (:func:`chain_tracks`): ``xy [S, N, 2]``, ``mask [S, N]``; built
        on demand (only bundle adjustment reads them)."""
        return chain_tracks(self.inlier_matches, len(self.solved))

    def summary(self) -> dict:
        return {
            "source": "matches",
            "solved_frames": int(self.solved.sum()),
            "frames": len(self.solved),
            "focal_length": self.focal_source,
            "focal_px": float(self.intrinsics[0, 0, 0]),  # of frame 0, original pixels
            "pairs_matched": self.pairs,
            "inliers": [int(x) for x in self.inliers],
            "parent": [int(x) for x in self.parent],
            "notes": self.notes,
        }


def _cv2():  # noqa: ANN202
    try:
        import cv2  # noqa: PLC0415 (optional dependency, imported on use)
    except ImportError as exc:
        raise UserError("--cameras matches needs OpenCV (pip install 'openvggt[recon]')") from exc
    return cv2


# ---------------------------------------------------------------------------------------------- matching
def _grey(frame: InputFrame, max_side: int, min_side: int = 0) -> tuple[np.ndarray, float, float]:
    """The frame's original image (EXIF orientation applied) in grey, its longer side brought within ``[min_side,
    max_side]`` (Lanczos down, bicubic up); and its (sx, sy)."""
    image = load_image_rgb(frame.path if frame.path is not None else frame.open())
    w, h = image.size
    s = max_side / max(w, h) if max(w, h) > max_side else max(1.0, min_side / max(w, h))
    if s != 1.0:
        kind = Image.Resampling.LANCZOS if s < 1.0 else Image.Resampling.BICUBIC
        image = image.resize((max(1, round(w * s)), max(1, round(h * s))), kind)
    return np.asarray(image.convert("L")), image.size[0] / w, image.size[1] / h


def match_frames(frames: Sequence[InputFrame], options: SolveOptions = SolveOptions()) -> tuple[Pairs, list]:
    """SIFT matches (original pixels, corner origin) of the pairs :func:`pair_list` and :func:`retrieval_pairs`
    name; and the per-image scales ``(sx, sy)`` of the matched images."""
    cv2 = _cv2()

    def detect(frame: InputFrame) -> tuple:
        grey, sx, sy = _grey(frame, options.max_side, options.min_side)
        return (*cv2.SIFT_create(nfeatures=options.features).detectAndCompute(grey, None), sx, sy)

    feats, strongest, scales = [], [], []
    # one image per core (OpenCV's own threads keep only part of a core busy in SIFT)
    for keys, desc, sx, sy in _thread_map(detect, frames):
        xy = np.array([k.pt for k in keys], np.float64).reshape(-1, 2) + 0.5  # pixel centres -> corner origin
        feats.append((xy / [sx, sy], desc))
        order = np.argsort([-k.response for k in keys])[: options.retrieval_features]
        strongest.append(desc[order] if desc is not None else np.zeros((0, 128), np.float32))
        scales.append((sx, sy))
    pairs: Pairs = {}
    chosen = set(pair_list(len(frames), options.window)) | retrieval_pairs(strongest, options.neighbours, options.ratio)
    for i, j in sorted(chosen):
        (xa, da), (xb, db) = feats[i], feats[j]
        if da is None or db is None or len(xa) < 2 or len(xb) < 2:
            continue
        qa, qb = ratio_matches(da, db, options.ratio)
        if len(qa) >= 8:
            pairs[i, j] = (xa[qa], xb[qb])
    return pairs, scales


def retrieval_pairs(descriptors: Sequence[np.ndarray], neighbours: int, ratio: float) -> set[tuple[int, int]]:
    """For each frame, the ``neighbours`` frames its strongest descriptors (``descriptors``, a few hundred per frame)
    match most often (Lowe's test): the pairs worth full matching when the frames are not in capture order."""
    s = len(descriptors)
    if s < 3 or neighbours < 1:
        return set()
    counts = np.zeros((s, s))
    for i in range(s):
        for j in range(i + 1, s):
            if len(descriptors[i]) >= 2 and len(descriptors[j]) >= 2:
                counts[i, j] = counts[j, i] = len(ratio_matches(descriptors[i], descriptors[j], ratio)[0])
    out = set()
    for i in range(s):
        for j in np.argsort(-counts[i])[:neighbours]:
            if counts[i, j] > 0:
                out.add((min(i, int(j)), max(i, int(j))))
    return out


def ratio_matches(da: np.ndarray, db: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the descriptors of ``da [N, D]`` whose nearest neighbour in ``db [M, D]`` (L2) is closer than
    ``ratio`` times the second nearest (Lowe's test), and of those neighbours. One fused matrix product (torch),
    faster than OpenCV's brute-force matcher."""
    a = torch.from_numpy(np.ascontiguousarray(da, np.float32))
    b = torch.from_numpy(np.ascontiguousarray(db, np.float32))
    # |b|^2 - 2 a.b in one fused product ranks each row's neighbours as the squared distance does (|a|^2 is a
    # constant of the row, added to the two kept)
    part = torch.addmm((b * b).sum(1).expand(len(a), -1), a, b.T, beta=1.0, alpha=-2.0)
    two, idx = part.topk(2, dim=1, largest=False)
    two = (two + (a * a).sum(1, keepdim=True)).clamp_min(0)
    keep = two[:, 0].sqrt() < ratio * two[:, 1].sqrt()
    return torch.nonzero(keep).flatten().numpy(), idx[keep, 0].numpy()


def pair_list(s: int, window: int) -> list[tuple[int, int]]:
    """Frame pairs ``(i, j), i < j``: each frame with frame 0 and with the ``window`` frames before it."""
    near = {(j - k, j) for j in range(1, s) for k in range(1, min(window, j) + 1)}
    return sorted({(0, j) for j in range(1, s)} | near)


# ---------------------------------------------------------------------------------------------- focal length
_EXIF_IFD, _FOCAL_35MM = 0x8769, 0xA405  # the Exif sub-IFD and its FocalLengthIn35mmFilm tag


def exif_focal(frame: InputFrame, width: int, height: int) -> float | None:
    """The focal length in pixels of the ``width x height`` original from the image's EXIF 35 mm-equivalent focal
    length (the long side of a 35 mm frame is 36 mm); None when the image has none (or is not a file or image)."""
    if frame.path is None and frame.image is None and frame.data is None:
        return None
    try:
        f35 = frame.open().getexif().get_ifd(_EXIF_IFD).get(_FOCAL_35MM)
    except (OSError, ValueError, SyntaxError):  # what Pillow raises on broken EXIF blocks
        return None
    return float(f35) / 36.0 * max(width, height) if f35 else None


def centred_k(f: float, width: int, height: int) -> np.ndarray:
    """Intrinsics of focal length ``f`` with the principal point at the centre (corner-origin pixels)."""
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def _equality(f_mat: np.ndarray, focals: np.ndarray, width: int, height: int) -> np.ndarray:
    """For each candidate focal length: ``(s1 - s2) / (s1 + s2)`` of ``K^T F K`` (0 for an essential matrix)."""
    k = np.zeros((len(focals), 3, 3))
    k[:, 0, 0] = k[:, 1, 1] = focals
    k[:, 0, 2], k[:, 1, 2], k[:, 2, 2] = width / 2, height / 2, 1.0
    sv = np.linalg.svd(k.transpose(0, 2, 1) @ f_mat @ k, compute_uv=False)
    return (sv[:, 0] - sv[:, 1]) / np.maximum(sv[:, 0] + sv[:, 1], 1e-300)


Fits = dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]  # (i, j) -> fundamental matrix [3, 3], inlier mask [M]


def fundamentals(pairs: Pairs, px: float = 1.0, min_inliers: int = 20) -> Fits:
    """Fundamental matrices (USAC) of the matched ``pairs`` with at least ``min_inliers`` inliers within ``px``
    pixels: what depends on the pixels alone, whatever the focal length."""
    cv2 = _cv2()

    def fit(key: tuple[int, int]) -> tuple | None:
        a, b = pairs[key]
        if len(a) < max(min_inliers, 15):
            return None
        try:
            f_mat, inl = cv2.findFundamentalMat(a, b, cv2.USAC_DEFAULT, px, 0.999)
        except cv2.error:
            return None
        if f_mat is None or f_mat.shape != (3, 3) or inl is None or int(inl.sum()) < min_inliers:
            return None
        return f_mat, inl.ravel() > 0

    return {key: got for key, got in zip(pairs, _thread_map(fit, pairs)) if got is not None}


def self_calibrate(fits: Fits, width: int, height: int) -> float | None:
    """The focal length (pixels of ``width x height`` images) whose ``K^T F K`` are the nearest to essential
    matrices over the fundamental matrices ``fits``; None when there are none, or the best lies at the edge of the
    searched range (a field of view of about 10-150 degrees). Degenerate when the cameras fixate one point (an
    object in the middle of an orbit): :func:`register_focal` tells those apart."""
    side = max(width, height)
    focals = side * np.geomspace(0.13, 5.7, 240)
    cost = np.zeros(len(focals))
    for f_mat, inl in fits.values():
        cost += np.sqrt(inl.sum()) * _equality(f_mat, focals, width, height)  # pairs with more support count more
    if not fits:
        return None
    best = int(np.argmin(cost))
    if best in (0, len(focals) - 1):
        return None
    return float(focals[best])


def _side(pairs: Pairs, fits: Fits, key: tuple[int, int], frame: int) -> tuple[np.ndarray, np.ndarray]:
    """A pair's inlier matches as (pixels in ``frame``, pixels in the other frame)."""
    a, b = pairs[key]
    keep = fits[key][1]
    return (a[keep], b[keep]) if key[0] == frame else (b[keep], a[keep])


_TEST_POINTS = 150  # shared matches per registration test, at most
_POSE_POINTS = 150  # inliers a base pair's pose is solved from in the focal search, at most


def _registration_tests(pairs: Pairs, fits: Fits, base: int, thirds: int) -> list[tuple]:
    """The ``(base pair, third pair, index in the base pair, index in the third pair)`` tests of
    :func:`registration_score`: each of the ``base`` pairs with most inliers, and up to ``thirds`` other pairs of its
    first frame that share keypoints with it (the same SIFT keypoint in two pairs: the same pixel)."""
    ranked = sorted(fits, key=lambda p: -int(fits[p][1].sum()))
    tests = []
    for i, j in ranked[:base]:
        here = {tuple(x): n for n, x in enumerate(_side(pairs, fits, (i, j), i)[0])}
        found = []
        for other in ranked:
            if i not in other or other == (i, j):
                continue
            mine = _side(pairs, fits, other, i)[0]
            idx = [(here[tuple(x)], m) for m, x in enumerate(mine) if tuple(x) in here]
            if len(idx) >= 12:  # at most _TEST_POINTS of them, evenly spread over the list
                idx = np.array(idx)
                found.append((other, idx[np.linspace(0, len(idx) - 1, min(len(idx), _TEST_POINTS)).astype(int)]))
            if len(found) == thirds:
                break
        tests += [((i, j), other, idx[:, 0], idx[:, 1]) for other, idx in found]
    return tests


def _base_points(pairs: Pairs, fits: Fits, key: tuple[int, int], k: np.ndarray, rows: np.ndarray, px: float):  # noqa: ANN202
    """The points of pair ``key``'s inliers ``rows`` triangulated in its first camera at intrinsics ``k`` (five-point
    USAC on at most ``_POSE_POINTS`` of its inliers, the cheirality check), and which of them lie in front of both
    cameras."""
    a, b = (x[fits[key][1]] for x in pairs[key])
    na, nb = _normalised(a, k), _normalised(b, k)
    pick = np.linspace(0, len(a) - 1, min(len(a), _POSE_POINTS)).astype(int)
    # the points are inliers of the fundamental matrix: a few samples do
    found = _essential_pose(na[pick], nb[pick], px / k[0, 0], max_iters=100)
    if found is None:
        return None
    rot, t, _ = found
    xyz = _triangulate(rot, t, na[rows], nb[rows])
    return xyz, (xyz[:, 2] > 0) & ((xyz @ rot.T + t)[:, 2] > 0)


def _registered(xyz: np.ndarray, seen: np.ndarray, k: np.ndarray, px: float) -> float:
    """How many of the points ``xyz [N, 3]`` a camera of intrinsics ``k`` sees within ``px`` pixels of ``seen``
    (pixels), each counted ``1 - (error / px)^2`` (MSAC's soft count: nearer is better, ties are rare), once posed
    by SQPnP on all of them, then again on those within ``4 px`` (the matches are inliers of two fundamental
    matrices already: few outliers are left)."""
    cv2 = _cv2()
    use = np.ones(len(xyz), bool)
    err = np.full(len(xyz), np.inf)
    for wide in (4 * px, px):
        if use.sum() < 6:
            break
        try:
            ok, rvec, tvec = cv2.solvePnP(xyz[use], seen[use], k, None, flags=cv2.SOLVEPNP_SQPNP)
        except cv2.error:
            break
        if not ok:
            break
        uv, _ = cv2.projectPoints(xyz, rvec, tvec, k, None)
        err = np.linalg.norm(uv.reshape(-1, 2) - seen, axis=1)
        use = err < wide
    return float(np.clip(1 - (err / px) ** 2, 0, None).sum())


def registration_score(
    pairs: Pairs, fits: Fits, tests: list[tuple], focal: float, size: tuple[int, int], px: float
) -> float:
    """How well focal length ``focal`` explains three views at once: for each test, the points a base pair
    triangulates with it are registered to a third frame (:func:`_registered`); the score is the mean (soft)
    fraction of the shared matches within ``px`` pixels there. A wrong focal length still fits each pair's
    epipolar geometry, but distorts the triangulated points so that no pose of the third camera sees them where
    they are."""
    k = centred_k(focal, *size)
    needed: dict[tuple[int, int], np.ndarray] = {}
    for base, _, at_base, _ in tests:  # only the points some test registers are triangulated
        needed[base] = np.union1d(needed.get(base, np.zeros(0, int)), at_base)
    points = {key: _base_points(pairs, fits, key, k, rows, px) for key, rows in needed.items()}
    scores = []
    for base, other, at_base, at_other in tests:
        if points[base] is None:
            scores.append(0.0)
            continue
        xyz, ok = points[base]
        row = np.searchsorted(needed[base], at_base)  # the test's points among those triangulated
        use = ok[row]
        if use.sum() < 6:
            scores.append(0.0)
            continue
        seen = _side(pairs, fits, other, base[0])[1][at_other[use]]
        scores.append(_registered(xyz[row[use]], seen, k, px) / len(at_base))
    return float(np.mean(scores)) if scores else 0.0


def register_focal(
    pairs: Pairs, fits: Fits, size: tuple[int, int], px: float, base: int = 16, guess: float | None = None
) -> tuple[float | None, float]:
    """The focal length with the best :func:`registration_score`: a grid over fields of view of about 15-125
    degrees (and ``guess``, e.g. :func:`self_calibrate`'s), then three finer steps around the best (to ~2 %).
    ``(None, 0)`` without three frames linked by shared keypoints. Returns the focal length and its score. Noisy
    matches bias the peak low by a few percent (``tests/pipeline/test_camera_solve.py``)."""
    tests = _registration_tests(pairs, fits, base, thirds=2)
    if not tests:
        return None, 0.0
    scored: dict[float, float] = {}

    def score(focals: Sequence[float]) -> None:  # the candidates at once, one per thread
        new = [float(f) for f in dict.fromkeys(focals) if float(f) not in scored]
        scored.update(zip(new, _thread_map(lambda f: registration_score(pairs, fits, tests, f, size, px), new)))

    score(list(max(size) * np.geomspace(0.25, 4.0, 9)) + ([guess] if guess else []))
    for step in (2**0.25, 2**0.125, 2**0.0625):
        best = max(scored, key=scored.get)
        score([best * step, best / step])
    best = max(scored, key=scored.get)
    return (best, scored[best]) if scored[best] > 0 else (None, 0.0)


# ---------------------------------------------------------------------------------------------- two views
@dataclass(frozen=True)
class RelativePose:
    """``x_j = R x_i + t`` with ``|t| = 1``; the translation lengths in the units of frame i's and j's depth."""

    rotation: np.ndarray  # [3, 3]
    direction: np.ndarray  # [3]
    inliers: int
    length_i: float | None  # median of model depth / triangulated depth, frame i
    length_j: float | None
    inlier_mask: np.ndarray  # [M] which of the pair's matches are inliers


def _normalised(xy: np.ndarray, k: np.ndarray) -> np.ndarray:
    return (xy - k[:2, 2]) / np.diag(k)[:2]


def depth_at(depth: np.ndarray, meta: ImageMeta, xy: np.ndarray) -> np.ndarray:
    """The model's depth ``[H, W]`` at original pixels ``xy [M, 2]`` (corner origin); 0 outside its footprint."""
    m = meta.original_to_model(np.asarray(xy, np.float64))
    h, w = depth.shape
    col, row = np.floor(m[:, 0]).astype(int), np.floor(m[:, 1]).astype(int)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    out = np.zeros(len(xy))
    out[inside] = depth[row[inside], col[inside]]
    return out


def _length(model_depth: np.ndarray, triangulated: np.ndarray) -> float | None:
    ok = (model_depth > 0) & (triangulated > 1e-9) & np.isfinite(triangulated)
    if ok.sum() < 8:
        return None
    return float(np.median(model_depth[ok] / triangulated[ok]))


def relative_pose(
    a: np.ndarray, b: np.ndarray, k_a: np.ndarray, k_b: np.ndarray, px: float, min_inliers: int
) -> tuple[np.ndarray, ...] | None:
    """Two-view pose from matches ``a, b [M, 2]`` (pixels): ``(R, t, points_a, points_b, inliers)`` with ``|t| = 1``,
    the inliers' triangulated points in each camera ``[N, 3]`` and the inlier mask ``[M]``; None for too few."""
    if len(a) < max(min_inliers, 5):
        return None
    na, nb = _normalised(a, k_a), _normalised(b, k_b)
    thr = px / float(np.mean([k_a[0, 0], k_a[1, 1], k_b[0, 0], k_b[1, 1]]))
    found = _essential_pose(na, nb, thr)
    if found is None or found[2].sum() < min_inliers:
        return None
    rot, t, keep = found
    pa = _triangulate(rot, t, na[keep], nb[keep])  # [N, 3] in camera a
    return rot, t, pa, pa @ rot.T + t, keep


def _essential_pose(na: np.ndarray, nb: np.ndarray, thr: float, max_iters: int = 1000) -> tuple | None:
    """``(R, t, inliers)`` of normalised matches ``na, nb [M, 2]``: five-point USAC within ``thr`` (normalised
    units), then the cheirality check (:func:`_cheirality`); ``|t| = 1``, ``inliers [M]`` bool (in front of both
    cameras). None when OpenCV finds nothing."""
    cv2 = _cv2()
    try:  # OpenCV raises on some degenerate samples (e.g. a polynomial with a vanishing leading term)
        e_mat, mask = cv2.findEssentialMat(na, nb, np.eye(3), cv2.USAC_DEFAULT, 0.999, thr, max_iters)
        if e_mat is None or mask is None:
            return None
        r1, r2, t = cv2.decomposeEssentialMat(e_mat[:3])  # several solutions may be stacked; the first is the best
    except cv2.error as exc:
        log.debug("two-view solve failed: %s", exc)
        return None
    return _cheirality((r1, r2), t.ravel(), na, nb, mask.ravel() > 0)


_FAR = 50.0  # points farther than this many baselines count as at infinity in the cheirality check


def _cheirality(rots: tuple, t: np.ndarray, na: np.ndarray, nb: np.ndarray, inliers: np.ndarray) -> tuple | None:
    """Of the four poses ``(R, +-t)`` an essential matrix decomposes into, the one that puts most ``inliers`` in
    front of both cameras (and nearer than ``_FAR`` baselines, as OpenCV's ``recoverPose`` counts): ``(R, t,
    inliers in front)``. The depths along the rays solve ``d_a r_a + t = d_b x_b`` (``r_a = R x_a``) in closed form,
    for all points at once: crossed with ``x_b`` and with ``r_a`` it gives ``d_a (r_a x x_b) = x_b x t`` and
    ``d_b (r_a x x_b) = r_a x t``, and the dot products of cross products reduce to dot products (Lagrange's
    identity). A few array operations instead of ``recoverPose``'s four triangulations: several times faster."""
    xa, xb = np.c_[na, np.ones(len(na))], np.c_[nb, np.ones(len(nb))]
    aa, bb, tb = (xa * xa).sum(1), (xb * xb).sum(1), xb @ t  # |r_a|^2 = |x_a|^2
    best = None
    for rot in rots:
        ra = xa @ rot.T
        ab, ta = (ra * xb).sum(1), ra @ t
        norm = np.maximum(aa * bb - ab * ab, 1e-300)  # |r_a x x_b|^2
        d_a = (ab * tb - bb * ta) / norm  # (x_b x t).(r_a x x_b) / |r_a x x_b|^2
        d_b = (aa * tb - ab * ta) / norm  # (r_a x t).(r_a x x_b) / |r_a x x_b|^2
        for sign in (1.0, -1.0):  # -t flips both depths
            da, db = sign * d_a, sign * d_b
            front = inliers & (da > 0) & (db > 0) & (da < _FAR) & (db < _FAR)
            if best is None or front.sum() > best[2].sum():
                best = (rot, sign * t / max(np.linalg.norm(t), 1e-12), front)
    return best


def _triangulate(rot: np.ndarray, t: np.ndarray, na: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """Normalised matches ``na, nb [N, 2]`` triangulated in camera a (camera b: ``x_b = R x_a + t``): ``[N, 3]``."""
    xyzw = _cv2().triangulatePoints(np.eye(3, 4), np.c_[rot, t], na.T, nb.T)
    return (xyzw[:3] / np.where(np.abs(xyzw[3]) > 1e-12, xyzw[3], 1e-12)).T


def solve_pair(
    a: np.ndarray,
    b: np.ndarray,
    k_a: np.ndarray,
    k_b: np.ndarray,
    depths: tuple,
    metas: tuple,
    opts: SolveOptions,
    scale: float = 1.0,
) -> RelativePose | None:
    """:func:`relative_pose` with the translation lengths from the model's ``depths`` (pair of ``[H, W]``) at the
    inliers; ``scale``: the matched images' size over the originals (the RANSAC threshold is in their pixels)."""
    found = relative_pose(a, b, k_a, k_b, opts.ransac_px / scale, opts.min_inliers)
    if found is None:
        return None
    rot, t, pa, pb, keep = found
    inl_a = pa[:, :2] / pa[:, 2:] * np.diag(k_a)[:2] + k_a[:2, 2]  # the inliers' pixels, re-projected
    inl_b = pb[:, :2] / pb[:, 2:] * np.diag(k_b)[:2] + k_b[:2, 2]
    length_a = _length(depth_at(depths[0], metas[0], inl_a), pa[:, 2])
    length_b = _length(depth_at(depths[1], metas[1], inl_b), pb[:, 2])
    return RelativePose(rot, t, len(pa), length_a, length_b, keep)


# ---------------------------------------------------------------------------------------------- all frames
def _compose(rel: RelativePose, ext_parent: np.ndarray, parent_is_i: bool) -> np.ndarray | None:
    """The child's world-to-camera ``[3, 4]`` from its parent's and the pair's relative pose."""
    r, t = rel.rotation, rel.direction
    if parent_is_i:  # x_child = R x_parent + L t, L in the parent's depth units
        length, r_rel, t_rel = rel.length_i, r, t
    else:  # parent is j: x_i = R^T x_j - R^T t
        length, r_rel, t_rel = rel.length_j, r.T, -r.T @ t
    if length is None:
        return None
    rel_mat = np.eye(4)
    rel_mat[:3, :3], rel_mat[:3, 3] = r_rel, length * t_rel
    parent = np.eye(4)
    parent[:3] = ext_parent
    return (rel_mat @ parent)[:3]


def solve_cameras(
    frames: Sequence[InputFrame],
    metas: Sequence[ImageMeta],
    depth: np.ndarray,
    extrinsics_head: np.ndarray,
    k_head: np.ndarray,
    options: SolveOptions = SolveOptions(),
    pairs: Pairs | None = None,
) -> SolvedCameras:
    """Every frame's camera from matches and the model's ``depth [S, H, W]`` (module docstring). ``extrinsics_head
    [S, 3, 4]`` / ``k_head [S, 3, 3]`` (original pixels): the camera head's, for what matches cannot give.
    ``pairs``: matches to use instead of :func:`match_frames` (original pixels, corner origin)."""
    s = len(frames)
    scales = [(1.0, 1.0)] * s
    if pairs is None:
        pairs, scales = match_frames(frames, options)
    notes = []
    sizes = {m.original_size for m in metas}
    exif = [exif_focal(f, *m.original_size) for f, m in zip(frames, metas)]
    focal = None
    if len(sizes) == 1 and None in exif and options.focal is None:
        (w, h), sx = next(iter(sizes)), scales[0][0]
        px = options.ransac_px / sx  # original pixels
        fits = fundamentals(pairs, px, options.min_inliers)
        two_view = self_calibrate(fits, w, h)
        found, _ = register_focal(pairs, fits, (w, h), px, options.focal_pairs, two_view)
        focal = found or two_view  # two frames (or none linked by shared keypoints): the two-view estimate
    if options.focal is not None:  # the user's
        k_orig = np.stack([centred_k(options.focal, *m.original_size) for m in metas])
        focal_source = "given"
    elif None not in exif:  # the camera's own record comes first
        k_orig = np.stack([centred_k(f, *m.original_size) for f, m in zip(exif, metas)])
        focal_source = "EXIF"
    elif focal is not None:
        k_orig = np.stack([centred_k(focal, *m.original_size) for m in metas])
        focal_source = "self-calibrated"
    else:
        k_orig = k_head.astype(np.float64).copy()
        focal_source = "camera head"
        notes.append("focal length from the camera head" + (": images differ in size" if len(sizes) > 1 else ""))

    def pose(key: tuple[int, int]) -> RelativePose | None:
        (i, j), (a, b) = key, pairs[key]
        return solve_pair(a, b, k_orig[i], k_orig[j], (depth[i], depth[j]), (metas[i], metas[j]), options, scales[i][0])

    rels = {key: rel for key, rel in zip(pairs, _thread_map(pose, pairs)) if rel is not None}
    inlier_matches = {p: (a[rels[p].inlier_mask], b[rels[p].inlier_mask]) for p, (a, b) in pairs.items() if p in rels}
    ext = extrinsics_head.astype(np.float64).copy()
    ext[0] = np.eye(3, 4)
    solved, parent, inliers = np.zeros(s, bool), np.full(s, -1), np.zeros(s, int)
    solved[0] = True
    while True:  # Prim: the strongest pair that reaches an unsolved frame from a solved one
        best = None
        for (i, j), rel in rels.items():
            if solved[i] != solved[j] and (best is None or rel.inliers > best[2].inliers):
                best = (i, j, rel)
        if best is None:
            break
        i, j, rel = best
        child, from_i = (j, True) if solved[i] else (i, False)
        got = _compose(rel, ext[i if from_i else j], from_i)
        del rels[i, j]
        if got is None:  # no depth to give the translation a length: try the next pair
            continue
        ext[child], solved[child], parent[child], inliers[child] = got, True, i if from_i else j, rel.inliers
    missing = np.flatnonzero(~solved)
    if len(missing):
        names = ", ".join(frames[k].name for k in missing[:5]) + (", ..." if len(missing) > 5 else "")
        notes.append(f"{len(missing)} frame(s) matched to no other well enough; the camera head's pose kept: {names}")
        log.warning("--cameras matches: %s", notes[-1])
    return SolvedCameras(ext, k_orig, solved, parent, inliers, focal_source, len(pairs), notes, inlier_matches)


def chain_tracks(pairs: Pairs, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise matches joined into tracks (union-find over the keypoints, a keypoint being its pixel position in
    its frame): ``xy [S, N, 2]`` and ``mask [S, N]``. A track that would hold two keypoints of one frame is dropped
    (an inconsistent chain)."""
    parent: dict[tuple[int, float, float], tuple[int, float, float]] = {}

    def root(node: tuple[int, float, float]) -> tuple[int, float, float]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for (i, j), (a, b) in pairs.items():
        for pa, pb in zip(a, b):
            ra, rb = root((i, float(pa[0]), float(pa[1]))), root((j, float(pb[0]), float(pb[1])))
            if ra != rb:
                parent[ra] = rb
    groups: dict[tuple[int, float, float], list[tuple[int, float, float]]] = {}
    for node in list(parent):
        groups.setdefault(root(node), []).append(node)
    kept = [g for g in groups.values() if len(g) >= 2 and len({n[0] for n in g}) == len(g)]
    xy, mask = np.zeros((s, len(kept), 2)), np.zeros((s, len(kept)), bool)
    for t, group in enumerate(kept):
        for f, x, y in group:
            xy[f, t], mask[f, t] = (x, y), True
    return xy, mask

"""Camera-pose accuracy in the VGGT protocol: relative pose errors over all frame pairs, RRA/RTA, AUC.

Protocol (facts about the official VGGT evaluation, re-implemented here):

* For every pair of frames ``i < j`` the relative pose is ``E_i @ inv(E_j)`` with ``E`` the 4x4
  world-to-camera matrix, i.e. the transform from camera ``j`` to camera ``i``. Its rotation and
  its translation (camera ``j``'s centre seen from camera ``i``) are compared with the same
  quantities of the reference cameras.
* Rotation error: the angle of ``R_gt^T R_pred`` in degrees, in [0, 180].
* Translation error: the angle between the two relative translation *directions* (scale-free).
* AUC@T: the mean, over the integer thresholds ``1..T`` degrees, of the fraction of pairs whose
  ``max(rotation error, translation error)`` is below the threshold, in percent. The official
  code computes it as ``mean(cumsum(histogram(max_err, bins=0..T)) / n_pairs)``; numpy's last
  bin is closed, so at the last threshold an error exactly equal to ``T`` still counts as a hit.
  :func:`auc` reproduces that bit for bit (tested against the histogram form).

Translation-direction convention (``translation=``):

* ``"signed"`` (default here): the plain angle between the two direction vectors, in [0, 180].
  A baseline predicted backwards is a 180-degree error.
* ``"unsigned"``: the official code's form. It squares the cosine (``acos(|cos|)``) and then
  folds with ``min(a, 180 - a)``, so errors lie in [0, 90] and a reversed baseline scores 0.
  Use it to compare with numbers published by the VGGT authors.

We default to ``"signed"`` because the sign of a relative translation is part of the camera
geometry that a reconstruction method must get right (a mirrored or depth-inverted solution
is a failure, not a success); the two conventions give the same number whenever every
predicted direction is within 90 degrees of the reference, which is the case for any usable
reconstruction, so the stricter form costs nothing on good methods.

Degenerate cases (our choices; the official code maps zero vectors to 90 degrees):

* reference relative translation ~0 (both cameras at one place, e.g. a pure rotation): the
  direction is undefined, the pair's translation error is NaN, it is left out of RTA and its
  AUC uses the rotation error alone;
* predicted relative translation ~0 while the reference one is not: the method gave no
  direction, which is the largest error of the convention (180 signed, 90 unsigned);
* a frame not registered by the method (``registered[s] = False``) or with non-finite pose:
  every pair that involves it gets ``FAILURE_DEG`` (180) for both errors, so it fails at every
  threshold.

"~0" means ``norm <= rel_eps * (largest relative translation norm of the same camera set)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._common import as_bool, as_float64

log = logging.getLogger(__name__)

__all__ = [
    "FAILURE_DEG",
    "PairErrors",
    "relative_pose_errors",
    "auc",
    "accuracy",
    "summarize_pose_errors",
    "camera_metrics",
]

FAILURE_DEG = 180.0
TRANSLATION_CONVENTIONS = ("signed", "unsigned")


@dataclass(frozen=True)
class PairErrors:
    """Per-pair errors of one scene (``P = S (S - 1) / 2`` pairs, ordered as ``np.triu_indices``).

    Fields:
        i, j: ``[P]`` frame indices, ``i < j``.
        rot_deg: ``[P]`` relative rotation angle error in degrees.
        trans_deg: ``[P]`` relative translation direction error in degrees; NaN where the
            reference direction is undefined.
        both_registered: ``[P]`` True when both frames were registered by the method.
        registered: ``[S]`` frames counted as registered (given mask and finite pose).
        translation: the convention used, ``"signed"`` or ``"unsigned"``.
    """

    i: np.ndarray
    j: np.ndarray
    rot_deg: np.ndarray
    trans_deg: np.ndarray
    both_registered: np.ndarray
    registered: np.ndarray
    translation: str

    @property
    def max_deg(self) -> np.ndarray:
        """``[P]`` max(rotation, translation) error; rotation alone where translation is NaN."""
        return np.fmax(self.rot_deg, self.trans_deg)


def _as_rt(extrinsics, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``R [S, 3, 3]`` and ``t [S, 3]`` from ``[S, 3, 4]`` or ``[S, 4, 4]`` world-to-camera."""
    e = as_float64(extrinsics, name)
    if e.ndim != 3 or e.shape[1:] not in ((3, 4), (4, 4)):
        raise ValueError(f"{name} must be [S, 3, 4] or [S, 4, 4] world-to-camera, got shape {e.shape}")
    return e[:, :3, :3], e[:, :3, 3]


def _rotation_angle_deg(rel_gt: np.ndarray, rel_pred: np.ndarray) -> np.ndarray:
    """Angle of ``rel_gt^T rel_pred`` for ``[P, 3, 3]`` inputs, via atan2 (accurate near 0 and 180)."""
    d = np.einsum("pki,pkj->pij", rel_gt, rel_pred)
    cos = (np.trace(d, axis1=1, axis2=2) - 1.0) / 2.0
    skew = np.stack([d[:, 2, 1] - d[:, 1, 2], d[:, 0, 2] - d[:, 2, 0], d[:, 1, 0] - d[:, 0, 1]], axis=-1)
    sin = np.linalg.norm(skew, axis=-1) / 2.0
    return np.degrees(np.arctan2(sin, cos))


def _direction_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in [0, 180] between ``[P, 3]`` vectors (undefined rows give garbage; callers mask them)."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, np.einsum("pk,pk->p", a, b)))


def _tiny(t: np.ndarray, use: np.ndarray, rel_eps: float) -> np.ndarray:
    """``[P]`` True where the relative translation is ~0 against the largest norm among rows in ``use``."""
    norm = np.linalg.norm(t, axis=-1)
    scale = float(np.max(norm[use])) if np.any(use) else 0.0
    return norm <= rel_eps * scale


def relative_pose_errors(
    pred_extrinsics,
    gt_extrinsics,
    registered=None,
    translation: str = "signed",
    rel_eps: float = 1e-6,
) -> PairErrors:
    """Relative rotation and translation-direction errors for all frame pairs ``i < j``.

    Args:
        pred_extrinsics: ``[S, 3, 4]`` or ``[S, 4, 4]`` predicted world-to-camera (OpenCV),
            numpy or torch. Rows of unregistered frames are ignored (may be NaN).
        gt_extrinsics: same shape, reference world-to-camera.
        registered: optional ``[S]`` bool; False marks frames the method failed to register.
        translation: ``"signed"`` (angle in [0, 180]) or ``"unsigned"`` (official, [0, 90]).
        rel_eps: relative threshold for "zero" relative translations (see module docstring).

    Returns:
        :class:`PairErrors` with ``S (S - 1) / 2`` pairs.
    """
    if translation not in TRANSLATION_CONVENTIONS:
        raise ValueError(f"translation must be one of {TRANSLATION_CONVENTIONS}, got {translation!r}")
    rp, tp = _as_rt(pred_extrinsics, "pred_extrinsics")
    rg, tg = _as_rt(gt_extrinsics, "gt_extrinsics")
    s = rg.shape[0]
    if rp.shape[0] != s or s < 2:
        raise ValueError(f"need the same number (>= 2) of predicted and reference frames, got {rp.shape[0]} and {s}")
    reg = np.ones(s, dtype=bool) if registered is None else as_bool(registered, "registered").reshape(-1)
    if reg.shape != (s,):
        raise ValueError(f"registered must have shape [{s}], got {reg.shape}")
    finite = np.isfinite(rp).all(axis=(1, 2)) & np.isfinite(tp).all(axis=1)
    if np.any(reg & ~finite):
        log.warning("%d registered frame(s) have non-finite poses; counted as failures", int(np.sum(reg & ~finite)))
    reg = reg & finite
    if not np.isfinite(rg).all() or not np.isfinite(tg).all():
        raise ValueError("gt_extrinsics contain non-finite values")

    i, j = np.triu_indices(s, k=1)
    ok = reg[i] & reg[j]
    rp, tp = np.where(reg[:, None, None], rp, np.eye(3)), np.where(reg[:, None], tp, 0.0)

    def relative(r: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel_r = r[i] @ np.swapaxes(r[j], 1, 2)  # [P, 3, 3] camera j -> camera i
        rel_t = t[i] - np.einsum("pab,pb->pa", rel_r, t[j])  # [P, 3]
        return rel_r, rel_t

    (rel_rg, rel_tg), (rel_rp, rel_tp) = relative(rg, tg), relative(rp, tp)
    rot = _rotation_angle_deg(rel_rg, rel_rp)
    trans = _direction_angle_deg(rel_tg, rel_tp)
    if translation == "unsigned":
        trans = np.minimum(trans, 180.0 - trans)
    worst = 180.0 if translation == "signed" else 90.0
    trans = np.where(_tiny(rel_tp, ok, rel_eps), worst, trans)
    trans = np.where(_tiny(rel_tg, np.ones_like(ok), rel_eps), np.nan, trans)
    rot = np.where(ok, rot, FAILURE_DEG)
    trans = np.where(ok, trans, FAILURE_DEG)
    return PairErrors(
        i=i, j=j, rot_deg=rot, trans_deg=trans, both_registered=ok, registered=reg, translation=translation
    )


def auc(errors, max_threshold: int = 30) -> float:
    """Area under the accuracy-threshold curve, in percent (VGGT / PoseDiffusion protocol).

    ``mean_{k=1..T} fraction(errors < k)``, except that at ``k = T`` an error equal to ``T``
    also counts (the official histogram's closed last bin). NaN errors count as failures.

    Args:
        errors: ``[P]`` per-pair errors in degrees, usually ``PairErrors.max_deg``.
        max_threshold: ``T``, a positive integer number of degrees.

    Returns:
        AUC in [0, 100]; NaN when there are no pairs.
    """
    if int(max_threshold) != max_threshold or max_threshold < 1:
        raise ValueError(f"max_threshold must be a positive integer, got {max_threshold!r}")
    e = as_float64(errors, "errors").reshape(-1)
    if e.size == 0:
        return float("nan")
    if np.any(e < 0):
        raise ValueError("errors must be non-negative angles in degrees")
    t = int(max_threshold)
    hits = e[None, :] < np.arange(1, t + 1, dtype=np.float64)[:, None]  # [T, P]; NaN -> False
    hits[-1] = e <= t
    return float(100.0 * hits.mean())


def accuracy(errors, threshold: float) -> float:
    """Percentage of the non-NaN ``errors`` strictly below ``threshold`` (NaN if all are NaN)."""
    e = as_float64(errors, "errors").reshape(-1)
    e = e[~np.isnan(e)]
    return float(100.0 * np.mean(e < threshold)) if e.size else float("nan")


def summarize_pose_errors(errors: PairErrors | Sequence[PairErrors]) -> dict:
    """AUC@{30,15,5,3}, RRA/RTA@{5,15,30} (percent) and counts, pooled over one or several scenes."""
    group = [errors] if isinstance(errors, PairErrors) else list(errors)
    if not group:
        raise ValueError("no PairErrors to summarise")
    conventions = {e.translation for e in group}
    if len(conventions) != 1:
        raise ValueError(f"cannot pool errors computed with different conventions: {sorted(conventions)}")
    rot = np.concatenate([e.rot_deg for e in group])
    trans = np.concatenate([e.trans_deg for e in group])
    worst = np.concatenate([e.max_deg for e in group])
    out: dict = {"pairs": int(rot.size), "translation_convention": conventions.pop()}
    for t in (30, 15, 5, 3):
        out[f"auc{t}"] = auc(worst, t)
    for t in (5, 15, 30):
        out[f"rra{t}"] = accuracy(rot, t)
        out[f"rta{t}"] = accuracy(trans, t)
    return out


def camera_metrics(
    pred_extrinsics, gt_extrinsics, registered=None, translation: str = "signed", rel_eps: float = 1e-6
) -> dict:
    """All camera metrics of one scene.

    Args: as :func:`relative_pose_errors`.

    Returns:
        ``{"frames", "registered", "pairs", "translation_convention", "auc30", "auc15", "auc5",
        "auc3", "rra5", "rta5", "rra15", "rta15", "rra30", "rta30"}``; accuracies in percent;
        ``registered`` counts frames the method registered with a finite pose.
    """
    errs = relative_pose_errors(pred_extrinsics, gt_extrinsics, registered, translation, rel_eps)
    n_reg = int(np.sum(errs.registered))
    return {"frames": int(errs.registered.size), "registered": n_reg, **summarize_pose_errors(errs)}

"""Fréchet distances (FVD, FID) between two sets of videos, from detector files the user supplies.

The math (``feature_statistics``, ``frechet_distance``) is plain float64 numpy and is tested against
closed forms. The features come from TorchScript files, never downloaded here (no PyPI wheel ships the
weights; every package that offers FVD downloads them at run time):

* **FVD** — StyleGAN-V's ``i3d_torchscript.pt``, a port of the tf.hub I3D that Unterthiner et al.'s
  reference FVD uses. Called exactly as StyleGAN-V calls it:
  ``detector(x, rescale=True, resize=True, return_features=True)`` with ``x`` uint8 ``[B, 3, T, H, W]``
  (grayscale repeated to 3 channels); the module itself rescales to [-1, 1] and resizes to 224x224, and
  returns the 400-d logits before the softmax. Statistics in float64 with the population covariance
  (1/N), as StyleGAN-V. Its protocol is 2048 real and 2048 generated clips of 16 frames.
* **FID** — StyleGAN2-ADA's ``inception-2015-12-05.pt`` (a port of the TF Inception-v3 of the original
  FID), called ``detector(x, return_features=True)`` with ``x`` uint8 ``[N, 3, H, W]``; the module resizes
  to 299x299 itself and returns the 2048-d pool features. For videos every frame is one image.

Fréchet distances are biased upward for small sets (two samples of the same Gaussian in d = 400 with
N = 256 each give about 300), so a report always shows the real-vs-real floor beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidsynth.errors import VidsynthError
from vidsynth.metrics.files import I3D_HELP, INCEPTION_HELP

#: How the features were made; copied into every report because FVD numbers differ by ~10% between
#: implementations that differ in any of these.
FVD_CONVENTION = {
    "detector_call": "detector(x, rescale=True, resize=True, return_features=True)",
    "input": "uint8 [B, 3, T, H, W], values 0..255, grayscale repeated to 3 channels",
    "resize": "inside the detector (to 224x224), as StyleGAN-V",
    "value_range": "inside the detector (0..255 -> [-1, 1])",
    "features": "400-d I3D logits before the softmax",
    "covariance": "population (1/N), float64",
    "matrix_sqrt": "eigh of symmetric forms",
}
FID_CONVENTION = {
    "detector_call": "detector(x, return_features=True)",
    "input": "uint8 [N, 3, H, W], every frame of every clip, grayscale repeated to 3 channels",
    "resize": "inside the detector (to 299x299), as StyleGAN2-ADA",
    "features": "2048-d Inception pool features",
    "covariance": "population (1/N), float64",
    "matrix_sqrt": "eigh of symmetric forms",
}


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population covariance (1/N, as StyleGAN-V) of ``[N, d]`` features, in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise VidsynthError(f"Fréchet statistics need at least 2 feature vectors [N, d], got shape {x.shape}")
    mean = x.mean(axis=0)
    centred = x - mean
    return mean, centred.T @ centred / x.shape[0]


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via eigh (tiny negative eigenvalues -> 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)``. The last trace equals
    ``tr((S1 S2)^1/2)`` of the usual formula, but its argument is symmetric, so ``eigh`` gives it without
    the complex round-off that ``scipy.linalg.sqrtm(S1 @ S2)`` produces.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise VidsynthError(
            f"Fréchet distance of mismatched statistics: means {mu1.shape}/{mu2.shape}, "
            f"covariances {sigma1.shape}/{sigma2.shape}"
        )
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def frechet_distance_of_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets ``[N, d]`` and ``[M, d]``."""
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


def load_detector(path: str | Path | None, device: torch.device | str, what: str = "fvd") -> torch.jit.ScriptModule:
    """Load a TorchScript feature detector, or fail with one line saying which file to get."""
    help_text = I3D_HELP if what == "fvd" else INCEPTION_HELP
    if path is None:
        raise VidsynthError(f"{what.upper()} needs a detector file: {help_text}")
    p = Path(path)
    if not p.is_file():
        raise VidsynthError(f"detector file {p} does not exist; {help_text}")
    try:
        module = torch.jit.load(str(p), map_location=device)
    except Exception as exc:  # noqa: BLE001 - any failure to read it is the same problem for the user
        first = (str(exc).strip().splitlines() or [""])[0]
        raise VidsynthError(f"{p} is not a TorchScript detector file ({type(exc).__name__}: {first}); {help_text}") from None
    return module.eval()


def _to_uint8_rgb(video: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] in [0, 1] -> uint8 [B, 3, T, H, W] (grayscale repeated, as StyleGAN-V does)."""
    x = (video.float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1, 1)
    return x


def _call(detector: Any, x: torch.Tensor, **kwargs: Any) -> np.ndarray:
    try:
        with torch.no_grad():
            out = detector(x, **kwargs)
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [""])[0]
        raise VidsynthError(f"the detector failed on input {tuple(x.shape)} ({type(exc).__name__}: {first})") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise VidsynthError(f"the detector returned {shape}, not one feature vector per input [{x.shape[0]}, d]")
    return out.double().cpu().numpy()


def i3d_features(detector: Any, video: torch.Tensor, frames: int | None = 16) -> np.ndarray:
    """FVD features ``[B, d]`` of videos ``[B, C, T, H, W]`` in [0, 1]: the first ``frames`` frames of each."""
    x = _to_uint8_rgb(video if frames is None else video[:, :, :frames])
    return _call(detector, x, rescale=True, resize=True, return_features=True)


def inception_features(detector: Any, video: torch.Tensor) -> np.ndarray:
    """FID features ``[B*T, d]``: every frame of videos ``[B, C, T, H, W]`` in [0, 1] as one image."""
    x = _to_uint8_rgb(video)
    images = x.permute(0, 2, 1, 3, 4).reshape(-1, *x.shape[1:2], *x.shape[3:])
    return _call(detector, images, return_features=True)


@dataclass
class FeatureBank:
    """Features collected batch by batch for each set of videos (``"model"``, ``"real"``, baselines)."""

    features: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, name: str, feats: np.ndarray) -> None:
        self.features.setdefault(name, []).append(feats)

    def get(self, name: str) -> np.ndarray:
        return np.concatenate(self.features[name], axis=0)

    def __contains__(self, name: str) -> bool:
        return name in self.features

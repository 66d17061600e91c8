"""The CVAE of Penington, Teo & Wang 2019, section 5: image encoder + Gaussian video encoder + the Table 1
video generator, trained as one network. The generator and its parts are ``vidsynth.nn.keyframes``
(shared with ``cgan``); they are re-exported here for code that imported them from this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidsynth.nn.encoders import ImageEncoder, VideoEncoder
from vidsynth.nn.keyframes import (  # noqa: F401  (re-exported)
    CostVolumeMotion,
    KeyframeGenerator,
    KeyframeVideoGenerator,
    SameConvTranspose3d,
    encode_keyframes,
    generate_keyframe_video,
    linear_interpolation,
    motion_interpolation,
    temporal_kernels,
    time_ramp,
)


class KeyframeCVAE(nn.Module):
    """Image encoder + Gaussian video encoder + generator, trained as one network (section 5)."""

    def __init__(self, image_encoder: ImageEncoder, video_encoder: VideoEncoder, generator: KeyframeVideoGenerator, z_dim: int) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.video_encoder = video_encoder
        self.generator = generator
        self.z_dim = z_dim

    def encode_keyframes(self, keyframes: Tensor) -> Tensor:
        """``[B, C, 2, H, W]`` -> ``[B, 2 code_dim]``: E_I of both frames in one batched call."""
        return encode_keyframes(self.image_encoder, keyframes)

    def posterior(self, video: Tensor, codes: Tensor) -> tuple[Tensor, Tensor]:
        """mu and sigma of q(z | X, x_i, x_f); sigma = softplus(.) + 1e-6 as in the authors' code."""
        mu, raw = self.video_encoder(video, codes).chunk(2, dim=1)
        return mu, F.softplus(raw) + 1e-6

    def forward(self, video: Tensor, noise: Tensor, with_mean: bool = False) -> dict[str, Tensor]:
        """Training pass on a [0, 1] video: ``recon`` (z from the posterior), ``mu``, ``sigma``, and with
        ``with_mean`` also ``mean`` = G(z = 0), the deterministic guess (one generator call on 2B rows)."""
        keyframes = video[:, :, [0, -1]]
        codes = self.encode_keyframes(keyframes)
        mu, sigma = self.posterior(video, codes)
        z = mu + sigma * noise  # the reparameterisation trick
        if not with_mean:
            return {"recon": self.generator(z, codes, keyframes), "mu": mu, "sigma": sigma}
        # both halves share the keyframes, so the base video (the motion base: cost volume or optical flow, the dearest part
        # of it) is made once and stacked: the same numbers and gradients as making it for each half
        base = self.generator.base_video(keyframes) if self.generator.output == "residual" else None
        both = self.generator(
            torch.cat([z, torch.zeros_like(z)]), torch.cat([codes, codes]), torch.cat([keyframes, keyframes]),
            base=None if base is None else torch.cat([base, base]),
        )
        recon, mean = both.chunk(2, dim=0)
        return {"recon": recon, "mu": mu, "sigma": sigma, "mean": mean}

    def generate(self, keyframes: Tensor, z: Tensor) -> Tensor:
        """The decoder alone: keyframes [B, C, 2, H, W] in [0, 1] of any size and z [B, z_dim] -> video at
        the keyframes' size (``vidsynth.nn.keyframes.generate_keyframe_video``)."""
        return generate_keyframe_video(self.image_encoder, self.generator, z, keyframes)

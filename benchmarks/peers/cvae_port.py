"""cvae ``paper`` against a plain eager PyTorch port of Penington, Teo & Wang 2019, Table 1 and equation (1).

The authors' code (github.com/geoff-penington/gifify) is TensorFlow 1, so the reference here is a port
written in this file the way one would write it first: ``nn.Sequential`` stacks in the default layout,
``nn.ConvTranspose3d`` followed by a crop for TensorFlow's "same" padding, the loss written out, and
``torch.optim.Adam`` with its defaults apart from the paper's lr and beta1. It shares no code with
vidsynth. Same shapes as vidsynth's ``paper`` preset (30 frames of 64 x 64 RGB, z 600, codes 1000) and the
same parameter count (485,317,179); batch 4 (the preset's 20 is a GPU batch: ``benchmarks/bench_mfu.py
--batch-size 20`` times that one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peers import Peer, vidsynth_step

BATCH = 4


def build(_path: Path | None) -> tuple[Any, Any, dict[str, Any]]:
    reference_step, ref_params = build_port()
    ours, info = vidsynth_step("cvae", "paper", {"batch_size": BATCH})
    print(f"# cvae paper: port {ref_params:,} parameters, vidsynth {info['ours_params']:,}")
    return reference_step, ours, {
        "ref_params": ref_params, "ours_params": info["ours_params"], "shape": f"batch {BATCH}, 3 x 30 x 64 x 64",
    }


def build_port(batch: int = BATCH) -> tuple[Any, int]:
    """The port's training step on a fixed random batch, and its parameter count. Both sides of this row
    hold ~7.8 GB (weights, gradients and two Adam moments of 485M parameters): ~16 GB in all."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    frames, size, channels, z_dim, code_dim = 30, 64, 3, 600, 1000

    class CropTranspose3d(nn.Module):
        """ConvTranspose3d with TensorFlow "same" output (input x stride): crop (k - s) outputs per axis."""

        def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
            super().__init__()
            self.conv = nn.ConvTranspose3d(c_in, c_out, kernel, stride)
            self.crop = [((k - s) // 2, (k - s) - (k - s) // 2) for k, s in zip(kernel, stride)]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            (a0, a1), (b0, b1), (c0, c1) = self.crop
            return y[:, :, a0 : y.shape[2] - a1, b0 : y.shape[3] - b1, c0 : y.shape[4] - c1]

    class PortCVAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image_encoder = nn.Sequential(
                nn.Conv2d(channels, 16, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(),
                nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(64, 128, 3, 1, 1), nn.ReLU(),
                nn.Flatten(),
                nn.Linear(128 * (size // 4) ** 2, 256), nn.ReLU(),
                nn.Linear(256, code_dim),
            )
            self.video_convs = nn.Sequential(
                nn.Conv3d(channels, 64, (3, 4, 4), (1, 2, 2), 1), nn.ReLU(),
                nn.Conv3d(64, 128, (3, 4, 4), (1, 2, 2), 1), nn.ReLU(),
                nn.Conv3d(128, 256, (3, 4, 4), (1, 2, 2), 1), nn.ReLU(),
                nn.Conv3d(256, 512, (3, 4, 4), (1, 2, 2), 1), nn.ReLU(),
                nn.Flatten(),
            )
            self.video_fc = nn.Sequential(
                nn.Linear(512 * frames * (size // 16) ** 2 + 2 * code_dim, 1024), nn.ReLU(),
                nn.Linear(1024, 2 * z_dim),
            )
            self.gen_fc = nn.Sequential(nn.Linear(z_dim + 2 * code_dim, 256 * 5 * 8 * 8), nn.ReLU())
            self.gen_convs = nn.Sequential(
                CropTranspose3d(256, 128, (1, 2, 2), (1, 1, 1)), nn.ReLU(),
                CropTranspose3d(128, 64, (3, 2, 2), (3, 2, 2)), nn.ReLU(),
                CropTranspose3d(64, 32, (3, 2, 2), (1, 2, 2)), nn.ReLU(),
                CropTranspose3d(32, 16, (3, 4, 4), (1, 2, 2)), nn.ReLU(),
                CropTranspose3d(16, channels, (2, 4, 4), (2, 1, 1)), nn.Sigmoid(),
            )

        def forward(self, video: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
            first, last = video[:, :, 0], video[:, :, -1]
            codes = torch.cat([self.image_encoder(first), self.image_encoder(last)], dim=1)
            stats = self.video_fc(torch.cat([self.video_convs(video), codes], dim=1))
            mu, raw = stats[:, :z_dim], stats[:, z_dim:]
            sigma = F.softplus(raw) + 1e-6
            z = mu + sigma * noise
            recon = self.gen_convs(self.gen_fc(torch.cat([z, codes], dim=1)).view(-1, 256, 5, 8, 8))
            return recon, mu, sigma

    def loss_fn(video: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        video_term = ((video - recon) ** 2).sum(dim=(1, 2, 3, 4))
        key_term = ((video[:, :, 0] - recon[:, :, 0]) ** 2).sum(dim=(1, 2, 3)) + (
            (video[:, :, -1] - recon[:, :, -1]) ** 2).sum(dim=(1, 2, 3))
        kl = 0.5 * (mu**2 + sigma**2 - torch.log(sigma**2) - 1).sum(dim=1)
        return (kl + 2.0 * video_term + 2.0 * key_term).mean()

    model = PortCVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.8, 0.999))
    video = torch.rand(batch, channels, frames, size, size)

    def reference_step() -> None:
        noise = torch.randn(batch, z_dim)
        recon, mu, sigma = model(video, noise)
        loss = loss_fn(video, recon, mu, sigma)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # the loss a training loop logs

    return reference_step, sum(p.numel() for p in model.parameters())


PEER = Peer(
    row=f"cvae (batch {BATCH}, 30 x 64 x 64)",
    reference="",
    repository="plain eager port of Table 1 (in this file)",
    commit="-",
    build=build,
    note="Penington, Teo & Wang 2019, Table 1 and eq. (1); Adam(1e-4, betas=(0.8, 0.999)) with torch defaults",
)

"""pix2pix-chain ``paper`` against the pix2pix authors' PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix).

The reference side builds the authors' ``UnetGenerator`` (6 downsamplings: 64 x 64 -> 1 x 1, batch norm,
dropout), ``NLayerDiscriminator`` (3 layers, the 70 x 70 PatchGAN) and ``GANLoss('vanilla')`` from
``models/networks.py`` of the checkout (``--ref pytorch-CycleGAN-and-pix2pix=PATH``; only ``models/networks.py``
is imported) and drives them as ``Pix2PixModel.optimize_parameters`` in ``models/pix2pix_model.py`` does:
forward G; D step on (A, G(A)) detached and (A, B), loss halved; then D frozen (``set_requires_grad``) and a
G step on the GAN loss of D(A, G(A)) + 100 x L1; Adam(2e-4, betas (0.5, 0.999)) for both. Batch 1 at
64 x 64 RGB, which is vidsynth's ``paper`` preset (one 2-frame window of a 30-frame clip per step).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from peers import Peer, vidsynth_step

COMMIT = "032e88438b1b2690e538c2cf399ebceb76adbea9"


def _networks(path: Path) -> Any:
    """The checkout's ``models/networks.py`` as a module (it imports only torch)."""
    file = path / "models" / "networks.py"
    if not file.is_file():
        raise SystemExit(f"error: {file} not found: pass --ref pytorch-CycleGAN-and-pix2pix=<checkout>")
    spec = importlib.util.spec_from_file_location("pix2pix_reference_networks", file)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def build(path: Path | None) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    assert path is not None
    networks = _networks(path)
    size, channels, l1_weight = 64, 3, 100.0
    # define_G knows only unet_128 / unet_256; 64 x 64 needs 6 downsamplings: the same class, built as define_G
    # builds it (init_net on the CPU is init_weights)
    net_g = networks.UnetGenerator(channels, channels, 6, 64, networks.get_norm_layer("batch"), use_dropout=True)
    networks.init_weights(net_g, "normal", 0.02)
    net_d = networks.define_D(2 * channels, 64, "basic", 3, "batch", "normal", 0.02, [])
    criterion_gan = networks.GANLoss("vanilla")
    criterion_l1 = torch.nn.L1Loss()
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_a = torch.rand(1, channels, size, size) * 2 - 1
    real_b = torch.rand(1, channels, size, size) * 2 - 1

    def set_requires_grad(net: torch.nn.Module, flag: bool) -> None:
        for p in net.parameters():
            p.requires_grad = flag

    def reference_step() -> None:  # Pix2PixModel.optimize_parameters (pool_size 0: the pool returns its input)
        fake_b = net_g(real_a)
        set_requires_grad(net_d, True)
        opt_d.zero_grad()
        loss_d_fake = criterion_gan(net_d(torch.cat((real_a, fake_b), 1).detach()), False)
        loss_d_real = criterion_gan(net_d(torch.cat((real_a, real_b), 1)), True)
        loss_d = (loss_d_fake + loss_d_real) * 0.5
        loss_d.backward()
        opt_d.step()
        set_requires_grad(net_d, False)
        opt_g.zero_grad()
        loss_g_gan = criterion_gan(net_d(torch.cat((real_a, fake_b), 1)), True)
        loss_g = loss_g_gan + criterion_l1(fake_b, real_b) * l1_weight
        loss_g.backward()
        opt_g.step()
        for loss in (loss_g_gan, loss_g, loss_d_real, loss_d_fake):  # get_current_losses: float() of each
            float(loss.detach())

    ours, info = vidsynth_step("pix2pix-chain", "paper")
    ref_g = sum(p.numel() for p in net_g.parameters())
    ref_d = sum(p.numel() for p in net_d.parameters())
    config = info["config"]
    from vidsynth.plugins import get_registry

    built = get_registry().model("pix2pix-chain").build(config)
    our_g = sum(p.numel() for p in built["generator"].parameters())
    our_d = sum(p.numel() for p in built["discriminator"].parameters())
    print(f"# pix2pix: reference G {ref_g:,} D {ref_d:,}; vidsynth G {our_g:,} D {our_d:,}")
    return reference_step, ours, {
        "ref_params": ref_g + ref_d, "ours_params": info["ours_params"],
        "shape": f"batch 1, {channels} x {size} x {size}",
    }


PEER = Peer(
    row="pix2pix-chain (D + G, batch 1, 64x64)",
    reference="pytorch-CycleGAN-and-pix2pix",
    repository="junyanz/pytorch-CycleGAN-and-pix2pix",
    commit=COMMIT,
    build=build,
    note="models/networks.py (UnetGenerator, NLayerDiscriminator, GANLoss) driven as pix2pix_model.py's optimize_parameters",
)

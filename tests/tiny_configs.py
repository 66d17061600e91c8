"""Tiny configs of the in-tree models (``--set`` overrides of their ``small`` preset): the same design at a
size where a training step takes milliseconds. The contract suite (test_plugin_contract.py) and each
model's own tests use them, with the two helpers below (the trainer's context on a CPU, one thread)."""

from __future__ import annotations

from typing import Any

import pytest

_WGAN3D = {
    "frames": 4, "size": 8, "channels": 1, "batch_size": 4, "z_dim": 8, "latent_channels": 8,
    "latent_frames": 1, "latent_size": 2, "g_widths": (8,), "d_widths": (8,), "encoder_widths": (4, 8),
    "lstm_channels": 4, "lstm_layers": 2, "frame_critic_widths": (4,),
}

TINY: dict[str, dict[str, Any]] = {
    # 8 frames of 16 x 16: the small networks of Penington et al. at a quarter of the area
    "cvae": {"frames": 8, "size": 16, "batch_size": 4, "kl_warmup": 0},
    "cgan": {"frames": 8, "size": 16, "batch_size": 4},
    # 4 frames of 8x8 gray: a 2x2 code map, 2 ConvLSTM layers, a one-block critic and per-frame critic
    "convlstm": {
        "frames": 4, "size": 8, "channels": 1, "batch_size": 4, "z_dim": 4, "encoder_widths": (4, 8),
        "code_channels": 4, "noise_channels": 2, "lstm_channels": 4, "lstm_layers": 2, "decoder_widths": (4,),
        "d_widths": (8,), "frame_critic_widths": (4,),
    },
    # 4 frames of 8x8 gray from a 1x2x2 latent: two up-layers, a one-block critic, a two-conv frame encoder;
    # both small presets are recurrent: a 2x2 noise map, 2 ConvLSTM layers, a per-frame critic of one block
    "wgan3d": _WGAN3D,
    "wgan3d-cond": _WGAN3D,
    # 8 frames of 16x16 (G_F: 2x2 -> 4 -> 8 -> 16), 3 frame critics, 2 video critics; phase 2 from step 2
    "manifold-traverse": {
        "frames": 8, "size": 16, "batch_size": 2, "frame_batch": 8, "latent": 8, "frame_widths": (16, 8, 8),
        "frame_critics": 3, "frame_critic_widths": (4, 4), "video_noise": 8, "video_fc": (16,), "video_features": 4,
        "lstm_hidden": 4, "video_head": 8, "video_critics": 2, "video_critic_widths": (4, 4), "frame_steps": 2,
        "steps": 4,
    },
    # 8 frames of 8x8 grayscale; a 3-level U-Net with 4-8-16 channels, a 1-layer PatchGAN
    "pix2pix-chain": {
        "frames": 8, "size": 8, "channels": 1, "batch_size": 2, "levels": 3, "gen_channels": 4,
        "gen_max_channels": 16, "disc_channels": 4, "disc_layers": 1, "context": 1, "unroll": 1, "residual": False,
        "windows_per_clip": 1,
    },
}

#: Models whose samples depend on the seed only with a sample option, and the config and options that make
#: them do so: pix2pix-chain is deterministic unless ``--option dropout=true`` turns on the dropout of its
#: U-Net (which the tiny 3-level one has none of; 4 levels of 4-8-8-8 channels have one dropout block).
SEEDED: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "pix2pix-chain": ({"size": 16, "levels": 4, "gen_max_channels": 8}, {"dropout": True}),
}


def cpu_context(plugin: Any, config: Any, seed: int = 0) -> Any:
    """The ``TrainContext`` the trainer would build (``vidsynth.trainer.build_context``) on a CPU in fp32,
    with torch's RNG seeded by ``seed`` before the modules are built."""
    from vidsynth.runtime import Runtime
    from vidsynth.trainer import build_context

    return build_context(plugin, config, Runtime(device="cpu", precision="fp32", seed=seed))


@pytest.fixture
def one_thread(monkeypatch):
    """Tiny tensors: one thread is much faster than two competing for a shared CPU (Runtime honours
    OMP_NUM_THREADS). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

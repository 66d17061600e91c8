"""The shipped cvae, cgan and pix2pix-chain weights load into the networks this code builds (issue 17 changed how
their training steps run, not their state_dict layouts) and run a forward pass."""

from __future__ import annotations

import pytest
import torch

from vidsynth.pretrained import find, load_pretrained


@pytest.mark.parametrize("name", ["cvae", "cgan", "pix2pix-chain"])
def test_shipped_weights_load_with_every_key_and_shape(name):
    folder = find(name)
    assert folder is not None, f"vidsynth ships a {name} model"
    run = load_pretrained(folder)  # refuses missing, unexpected or reshaped keys in one line
    c = run.config
    with torch.no_grad():
        if name == "cvae":
            keyframes = torch.rand(1, c.channels, 2, c.size, c.size)
            video = run.modules["model"].generate(keyframes, torch.zeros(1, c.z_dim))
            assert video.shape == (1, c.channels, c.frames, c.size, c.size)
        elif name == "cgan":
            keyframes = torch.rand(1, c.channels, 2, c.size, c.size)
            video = run.modules["generator"](torch.zeros(1, c.z_dim), keyframes)
            assert video.shape == (1, c.channels, c.frames, c.size, c.size)
            torch.testing.assert_close(video[:, :, [0, -1]], keyframes)  # the residual keeps the keyframes
        else:
            history = torch.rand(1, c.channels * c.context, c.size, c.size) * 2 - 1
            frame = run.modules["generator"](history)
            assert frame.shape == (1, c.channels, c.size, c.size)
    assert torch.isfinite(video if name in ("cvae", "cgan") else frame).all()

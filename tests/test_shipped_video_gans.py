"""The shipped convlstm, wgan3d and wgan3d-cond models load into today's networks (whose ConvLSTM splits its
gate kernel into input and hidden parts, and unrolls layer by layer) and sample as the textbook recurrence does."""

from __future__ import annotations

import pytest
import torch

from vidsynth.pretrained import find, load_pretrained


@pytest.mark.parametrize("name", ["wgan3d", "wgan3d-cond", "convlstm"])
def test_the_shipped_model_loads_and_samples(name):
    run = load_pretrained(find(name), name)
    c = run.config
    condition = torch.zeros(1, c.channels, 1, c.size, c.size)
    with torch.no_grad():
        video = run.plugin.sample(run.modules, c, condition, 1, torch.Generator().manual_seed(0))
    assert video.shape == (1, c.channels, c.frames, c.size, c.size) and torch.isfinite(video).all()


def test_the_shipped_convlstm_unrolls_as_the_stepped_recurrence():
    run = load_pretrained(find("convlstm"), "convlstm")
    lstm = run.modules["generator"].lstm
    x = torch.randn(2, lstm.cells[0].in_channels, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        unrolled, _ = lstm.unroll(x, 15)
        states, stepped = None, []
        for _ in range(15):
            h, states = lstm.step(x, states)
            stepped.append(h)
    assert torch.allclose(unrolled, torch.stack(stepped, dim=2), atol=1e-5)

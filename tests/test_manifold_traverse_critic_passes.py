"""manifold-traverse's critic update: the real and generated batches go through the K critics in one pass,
with or without the minibatch-std channel (computed over each batch on its own); the losses are each
critic's BCE on real and generated samples, as with two passes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recording import RecordingContext
from tiny_configs import TINY

from vidsynth_plugins.manifold_traverse import ManifoldTraverse
from vidsynth_plugins.manifold_traverse.training import adversarial_step

PLUGIN = ManifoldTraverse()


@pytest.mark.parametrize("minibatch_std", [False, True])
def test_real_and_generated_share_one_critic_pass(minibatch_std):
    torch.manual_seed(0)
    config = PLUGIN.make_config("small", {**TINY["manifold-traverse"], "minibatch_std": minibatch_std})
    ctx = RecordingContext(PLUGIN.build(config))
    critics = ctx.modules["frame_critics"]
    calls = []
    critics.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    real, fake = torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1
    out = adversarial_step(ctx, "frame_generator", "frame_critics", real, fake)
    assert calls == [8, 4]  # the critic update's pass on real + generated, then the generator's
    with torch.no_grad():
        r, f = critics(real), critics(fake)
    per_critic = F.softplus(-r).mean(0) + F.softplus(f).mean(0)
    assert out["d_loss"] == pytest.approx(per_critic.mean().item(), rel=1e-5)
    assert ctx.seen["frame_critics"] == pytest.approx(per_critic.sum().item(), rel=1e-5)
    assert out["g_loss"] == pytest.approx(F.softplus(-f).mean().item(), rel=1e-5)


@pytest.mark.parametrize("video", [False, True])
@pytest.mark.parametrize("taps", [False, True], ids=["grouped", "taps"])
def test_stacked_batches_get_each_their_own_minibatch_std(video, taps, monkeypatch):
    import vidsynth.nn.projections as projections
    from vidsynth.nn.projections import ProjectedFrameCritics, ProjectedVideoCritics

    if taps:  # every layer as tap GEMMs (the paper's widths would be too slow for a test)
        monkeypatch.setattr(projections, "TAPS_MIN_CHANNELS", 1)
        monkeypatch.setattr(projections, "TAPS_IN_3D", True)
    torch.manual_seed(0)
    if video:
        critics, shape = ProjectedVideoCritics(2, 1, 8, 16, (3, 4), minibatch_std=True), (3, 1, 8, 16, 16)
    else:
        critics, shape = ProjectedFrameCritics(3, 1, 16, (4, 5), minibatch_std=True), (3, 1, 16, 16)
    a, b = torch.randn(shape), torch.randn(shape) * 3
    both = critics(torch.cat([a, b]), batches=(3, 3))
    assert torch.allclose(both, torch.cat([critics(a), critics(b)]), atol=1e-6)
    assert not torch.allclose(both, critics(torch.cat([a, b])), atol=1e-4)  # one batch of six is another input

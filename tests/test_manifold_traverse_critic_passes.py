"""manifold-traverse's critic update: without a minibatch-std channel (the paper) the real and generated
batches go through the K critics in one pass; with it, in two (the channel describes one kind of batch).
Either way the losses are each critic's BCE on real and generated samples."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recording import RecordingContext
from tiny_configs import TINY

from vidsynth_plugins.manifold_traverse import ManifoldTraverse
from vidsynth_plugins.manifold_traverse.training import adversarial_step

PLUGIN = ManifoldTraverse()


@pytest.mark.parametrize("minibatch_std, critic_passes", [(False, 1), (True, 2)])
def test_real_and_generated_share_one_critic_pass_unless_the_batch_statistic_is_on(minibatch_std, critic_passes):
    torch.manual_seed(0)
    config = PLUGIN.make_config("small", {**TINY["manifold-traverse"], "minibatch_std": minibatch_std})
    ctx = RecordingContext(PLUGIN.build(config))
    critics = ctx.modules["frame_critics"]
    calls = []
    critics.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    real, fake = torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1
    out = adversarial_step(ctx, "frame_generator", "frame_critics", real, fake)
    assert len(calls) == critic_passes + 1  # the critic update's passes, then the generator's
    with torch.no_grad():
        r, f = critics(real), critics(fake)
    per_critic = F.softplus(-r).mean(0) + F.softplus(f).mean(0)
    assert out["d_loss"] == pytest.approx(per_critic.mean().item(), rel=1e-5)
    assert ctx.seen["frame_critics"] == pytest.approx(per_critic.sum().item(), rel=1e-5)
    assert out["g_loss"] == pytest.approx(F.softplus(-f).mean().item(), rel=1e-5)

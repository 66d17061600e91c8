"""vidsynth.nn.wgan.wasserstein_critic_update: one critic step of WGAN(-GP), as wgan3d and convlstm take it."""

import copy

import pytest
import torch

from recording import RecordingContext
from vidsynth.nn.wgan import wasserstein_critic_update


class Critic(torch.nn.Module):
    """A linear score of the video, plus the condition's mean when one is given."""

    def __init__(self):
        super().__init__()
        self.score = torch.nn.Linear(2 * 3, 1)
        self.conditions = []

    def forward(self, video, condition=None):
        self.conditions.append(condition)
        out = self.score(video.flatten(1)).squeeze(1)
        return out if condition is None else out + condition.mean()


def test_the_critic_minimises_fake_minus_real_plus_the_weighted_penalty_and_drift():
    torch.manual_seed(0)
    ctx = RecordingContext({"critic": Critic()})
    real, fake = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    losses = wasserstein_critic_update(ctx, "critic", real, fake, gp_weight=10.0, drift_weight=0.5)
    scores_real, scores_fake = ctx.modules["critic"](real), ctx.modules["critic"](fake)
    assert losses["wasserstein"] == pytest.approx((scores_real.mean() - scores_fake.mean()).item(), rel=1e-5)
    # a linear critic's input gradient is its weight everywhere: the penalty is (||w|| - 1)^2 exactly
    assert losses["gp"] == pytest.approx(((ctx.modules["critic"].score.weight.norm() - 1) ** 2).item(), rel=1e-5)
    drift = scores_real.pow(2).mean().item()
    assert ctx.seen["critic"] == pytest.approx(-losses["wasserstein"] + 10.0 * losses["gp"] + 0.5 * drift, rel=1e-5)
    assert losses["critic"] == pytest.approx(ctx.seen["critic"])


def test_weight_clipping_without_a_penalty_and_the_condition_reaches_the_critic():
    ctx = RecordingContext({"critic": Critic()})
    with torch.no_grad():
        ctx.modules["critic"].score.weight.fill_(0.5)
    condition = torch.full((1,), 7.0)
    losses = wasserstein_critic_update(ctx, "critic", torch.randn(4, 2, 3), torch.randn(4, 2, 3), condition, clip=0.01)
    assert "gp" not in losses and ctx.modules["critic"].score.weight.abs().max() <= 0.01
    assert len(ctx.modules["critic"].conditions) == 2 and all(c is condition for c in ctx.modules["critic"].conditions)


def test_scoring_real_and_fake_in_one_batch_gives_the_same_losses():
    torch.manual_seed(0)
    real, fake, condition = torch.randn(4, 2, 3), torch.randn(4, 2, 3), torch.randn(4, 1)
    critic = Critic()
    results = []
    for batched in (False, True):
        ctx = RecordingContext({"critic": critic})
        critic.conditions.clear()
        torch.manual_seed(1)  # the same interpolation points
        losses = wasserstein_critic_update(ctx, "critic", real, fake, condition, gp_weight=10.0, drift_weight=0.5,
                                           batched=batched)
        results.append((losses, ctx.seen["critic"], [tuple(c.shape) for c in critic.conditions]))
    (plain, plain_loss, plain_calls), (fast, fast_loss, fast_calls) = results
    assert fast == pytest.approx(plain, rel=1e-6) and fast_loss == pytest.approx(plain_loss, rel=1e-6)
    assert plain_calls == [(4, 1)] * 3 and fast_calls == [(8, 1), (4, 1)]  # real + fake in one call, then the penalty


def test_the_fused_adam_makes_the_plain_adam_update_and_resumes_from_its_state():
    from vidsynth.model import adam

    torch.manual_seed(0)
    plain_net, fused_net = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    fused_net.load_state_dict(plain_net.state_dict())
    plain = torch.optim.Adam(plain_net.parameters(), lr=1e-2, betas=(0.5, 0.9))
    fused = adam(fused_net.parameters(), lr=1e-2, betas=(0.5, 0.9))
    assert fused.defaults["fused"]
    for step in range(4):
        if step == 2:  # a checkpoint of the plain optimiser resumed by the fused one
            fused.load_state_dict(copy.deepcopy(plain.state_dict()))
            fused.param_groups[0]["fused"] = True
        x = torch.randn(8, 5)
        for net, opt in ((plain_net, plain), (fused_net, fused)):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for a, b in zip(plain_net.parameters(), fused_net.parameters()):
        assert torch.allclose(a, b, atol=1e-6)

"""vidsynth.nn.losses: each GAN loss against a hand computation, the gradient penalty against finite differences."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vidsynth.nn.losses import (
    clip_weights_,
    drift_penalty,
    gradient_penalty,
    hinge_discriminator_loss,
    hinge_generator_loss,
    interpolate,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)


class QuadraticCritic(nn.Module):
    """D(x) = sum(w * x^2) + sum(v * x): its input gradient 2 w x + v differs per sample and per element."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w = nn.Parameter(torch.randn(shape, generator=g, dtype=torch.float64))
        self.v = nn.Parameter(torch.randn(shape, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x**2 + self.v * x).flatten(1).sum(1)


def finite_difference_penalty(critic, points: torch.Tensor, eps: float = 1e-6) -> float:
    """mean_i (||grad D(x_i)|| - 1)^2 with each partial derivative from a central difference."""
    norms = []
    for x in points:
        flat = x.flatten().clone()
        grad = torch.empty_like(flat)
        for k in range(flat.numel()):
            up, down = flat.clone(), flat.clone()
            up[k] += eps
            down[k] -= eps
            with torch.no_grad():
                d_up = critic(up.view(1, *x.shape)).item()
                d_down = critic(down.view(1, *x.shape)).item()
            grad[k] = (d_up - d_down) / (2 * eps)
        norms.append(grad.norm().item())
    return sum((n - 1.0) ** 2 for n in norms) / len(norms)


def test_gradient_penalty_matches_finite_differences_on_a_fixed_input():
    torch.manual_seed(0)
    shape = (2, 3, 4, 4)  # [C, T, H, W]: the norm must run over all of them
    critic = QuadraticCritic(shape)
    points = torch.randn(3, *shape, dtype=torch.float64)
    expected = finite_difference_penalty(critic, points)
    got = gradient_penalty(critic, points).item()
    assert got == pytest.approx(expected, rel=1e-6)


def test_gradient_norm_is_per_sample_over_all_non_batch_dimensions():
    # Linear critic D(x) = <a, x>: the gradient is a for every sample, so the penalty is (||a|| - 1)^2
    # with ||a|| over C, T, H, W together (here 3), not over one axis.
    a = torch.zeros(1, 2, 3, 3)
    a[0, 0, 0, 0], a[0, 1, 2, 2] = 2.0, math.sqrt(5.0)  # ||a|| = 3; per-channel norms would be 2 and sqrt 5
    critic = lambda x: (x * a).flatten(1).sum(1)  # noqa: E731
    assert gradient_penalty(critic, torch.randn(4, 1, 2, 3, 3)).item() == pytest.approx(4.0)


def test_gradient_penalty_back_propagates_into_the_critic_weights():
    # D(x) = <a, x>: penalty (||a|| - 1)^2, whose gradient with respect to a is 2 (||a|| - 1) a / ||a||.
    a = nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ||a|| = 5
    penalty = gradient_penalty(lambda x: (x * a).sum(1), torch.randn(6, 2))
    penalty.backward()
    assert penalty.item() == pytest.approx(16.0)
    assert torch.allclose(a.grad, 2 * 4 * a.detach() / 5)


def test_interpolate_draws_one_alpha_per_sample():
    real, fake = torch.zeros(5, 1, 2, 3, 3), torch.ones(5, 1, 2, 3, 3)
    points = interpolate(real, fake, generator=torch.Generator().manual_seed(0))
    per_sample = points.flatten(1)
    assert torch.all(per_sample == per_sample[:, :1])  # the same alpha across each sample
    assert per_sample[:, 0].unique().numel() == 5 and per_sample.min() >= 0 and per_sample.max() <= 1


def test_wasserstein_losses_on_fixed_scores():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert wasserstein_critic_loss(real, fake).item() == pytest.approx(-0.5 - 2.0)
    assert wasserstein_generator_loss(fake).item() == pytest.approx(0.5)


def test_nonsaturating_losses_with_one_sided_label_smoothing():
    zero = torch.zeros(4)
    # real target 0.9 at logit 0: -0.9 log(1/2) - 0.1 log(1/2) = log 2; fake target 0 at logit 0: log 2
    assert nonsaturating_discriminator_loss(zero, zero, real_label=0.9).item() == pytest.approx(2 * math.log(2))
    logit = torch.tensor([2.0])
    smoothed = -(0.9 * math.log(1 / (1 + math.exp(-2))) + 0.1 * math.log(1 - 1 / (1 + math.exp(-2))))
    fake_part = -math.log(1 - 1 / (1 + math.exp(2.0)))
    assert nonsaturating_discriminator_loss(logit, -logit, real_label=0.9).item() == pytest.approx(smoothed + fake_part)
    assert nonsaturating_generator_loss(torch.tensor([0.0, 2.0])).item() == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(-2))) / 2
    )


def test_hinge_losses_on_fixed_scores():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert hinge_discriminator_loss(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert hinge_generator_loss(fake).item() == pytest.approx(1.0)


def test_drift_penalty_and_weight_clipping():
    assert drift_penalty(torch.tensor([1.0, -3.0])).item() == pytest.approx(5.0)
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.001, 0.0], [-2.0, 0.002, 0.01]]))
    clip_weights_(layer, 0.01)
    assert layer.weight.abs().max().item() == pytest.approx(0.01)
    assert layer.weight[0, 1].item() == pytest.approx(-0.001)  # values inside the bound stay


def test_mode_seeking_loss_is_the_inverse_output_to_noise_distance_ratio():
    from vidsynth.nn.losses import mode_seeking_loss

    out_a, out_b = torch.zeros(2, 1, 3, 4, 4), torch.full((2, 1, 3, 4, 4), 0.5)
    z_a, z_b = torch.zeros(2, 8), torch.full((2, 8), 2.0)
    assert mode_seeking_loss(out_a, out_b, z_a, z_b).item() == pytest.approx(1 / (0.25 + 1e-5))
    # minimising it pushes two outputs for different noise apart
    moving = out_b.clone().requires_grad_(True)
    mode_seeking_loss(out_a, moving, z_a, z_b).backward()
    assert (moving.grad < 0).all()


# -- motion-energy matching ------------------------------------------------------------------------
def test_motion_energy_is_zero_for_still_clips_and_the_mean_frame_difference_otherwise():
    from vidsynth.nn.losses import motion_energy

    still = torch.rand(2, 1, 1, 8, 8).expand(2, 1, 5, 8, 8)
    assert motion_energy(still).item() == 0.0
    ramp = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(2, 3, 5, 4, 4) * 0.25  # each step +0.25 everywhere
    assert motion_energy(ramp).item() == pytest.approx(0.25)


def test_motion_matching_loss_is_zero_at_the_datas_energy_and_pushes_still_clips_to_move():
    from vidsynth.nn.losses import motion_energy, motion_matching_loss

    g = torch.Generator().manual_seed(0)
    real = torch.rand(4, 1, 6, 8, 8, generator=g) * 2 - 1
    same_energy = real.flip(0)  # other clips, the same batch energy
    assert motion_matching_loss(same_energy, real).item() == pytest.approx(0.0, abs=1e-10)
    still = torch.rand(4, 1, 1, 8, 8, generator=g).expand(4, 1, 6, 8, 8).clone().requires_grad_(True)
    loss = motion_matching_loss(still, real)
    assert loss.item() == pytest.approx(1.0)  # (0 / E_real - 1)^2
    real.requires_grad_(True)
    half = (0.5 * real).detach().requires_grad_(True)  # half the energy: (0.5 - 1)^2
    assert motion_matching_loss(half, real).item() == pytest.approx(0.25, rel=1e-5)
    motion_matching_loss(half, real).backward()
    assert real.grad is None  # the data is only a target
    # one gradient step on the half-energy clips moves their energy towards the data's
    before = motion_energy(half).item()
    stepped = half - 0.05 * half.grad
    assert before < motion_energy(stepped).item() < motion_energy(real).item()


def test_mode_seeking_term_draws_a_second_noise_and_compares_the_made_frames_only():
    from vidsynth.nn.losses import mode_seeking_loss, mode_seeking_term

    weight = torch.randn(4, 2 * 3 * 5)

    def generate(z):  # a "video" [B, 2, 3, 1, 5] that depends on z; frame 0 is the same for every z
        video = (z @ weight).view(-1, 2, 3, 1, 5).clone()
        video[:, :, 0] = 1.0
        return video

    z = torch.randn(6, 4)
    out = generate(z)
    torch.manual_seed(7)
    term = mode_seeking_term(generate, out, z, skip_frames=1)
    torch.manual_seed(7)
    z2 = torch.randn_like(z)
    assert term.item() == pytest.approx(mode_seeking_loss(out[:, :, 1:], generate(z2)[:, :, 1:], z, z2).item())
    torch.manual_seed(7)
    with_given = mode_seeking_term(generate, out, z)  # frame 0 included: the same difference spread thinner
    assert with_given.item() > term.item()

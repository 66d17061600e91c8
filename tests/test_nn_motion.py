"""Block-matching flow and the next-frame motion guess (vidsynth.nn.motion), on images with a known shift."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidsynth.nn.motion import MotionExtrapolation, block_matching_flow, candidate_grid, warp


def smooth_image(size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 1, size, size, generator=g)
    return F.avg_pool2d(F.pad(noise, (2, 2, 2, 2), mode="circular"), 5, 1).mul(2).sub(1)  # [-1, 1]-ish, smooth


def shifted(image, dx, dy):
    return torch.roll(image, shifts=(dy, dx), dims=(2, 3))


def test_warp_by_an_integer_flow_is_a_shift_inside_the_image():
    image = smooth_image()
    flow = torch.zeros(1, 2, 32, 32)
    flow[:, 0] = -2.0  # sample 2 pixels to the left: the content moves right by 2
    assert torch.allclose(warp(image, flow)[..., 4:-4, 4:-4], shifted(image, 2, 0)[..., 4:-4, 4:-4], atol=1e-5)


def test_block_matching_recovers_a_known_translation():
    first = smooth_image()
    last = shifted(first, 2, -1)
    flow = block_matching_flow(first, last, candidate_grid(3.0, 1.0), 9, torch.tensor(1e-4))
    inner = flow[:, :, 6:-6, 6:-6]
    assert torch.allclose(inner[:, 0], torch.full_like(inner[:, 0], 2.0), atol=0.05)
    assert torch.allclose(inner[:, 1], torch.full_like(inner[:, 1], -1.0), atol=0.05)


def test_motion_extrapolation_starts_as_copy_last_and_with_alpha_1_continues_the_motion():
    frames = [shifted(smooth_image(), 2 * t, 0) for t in range(3)]
    module = MotionExtrapolation(tau=1e-4)
    assert torch.equal(module(frames[0], frames[1]), frames[1])  # alpha 0 at the start
    with torch.no_grad():
        module.alpha_raw.fill_(1.0 / module.alpha_scale)
    guess = module(frames[0], frames[1])[..., 6:-6, 6:-6]
    truth, copy = frames[2][..., 6:-6, 6:-6], frames[1][..., 6:-6, 6:-6]
    assert (guess - truth).abs().mean() < 0.05 * (copy - truth).abs().mean()


def test_alpha_and_tau_get_gradients():
    frames = [shifted(smooth_image(), t, 0) for t in range(3)]
    module = MotionExtrapolation()
    with torch.no_grad():
        module.alpha_raw.fill_(0.05)
    (module(frames[0], frames[1]) - frames[2]).abs().mean().backward()
    assert module.alpha_raw.grad.abs() > 0 and module.log_tau.grad.abs() > 0

"""The random-projection critics computed two ways: grouped convolutions, and batched GEMMs over the kernel
taps that meet the input (``_TapConv``, chosen per layer by ``_use_taps``). Same parameters, same maths:
the same logits and gradients, the same checkpoints."""

from __future__ import annotations

import itertools

import pytest
import torch

import vidsynth.nn.projections as projections
from vidsynth.nn.projections import ProjectedFrameCritics, ProjectedVideoCritics, _tap_plan

GROUPED, TAPS = 10**9, 1  # TAPS_MIN_CHANNELS: no layer / every layer as tap GEMMs


@pytest.fixture(autouse=True)
def _restore_rule(monkeypatch):
    monkeypatch.setattr(projections, "TAPS_MIN_CHANNELS", projections.TAPS_MIN_CHANNELS)
    monkeypatch.setattr(projections, "TAPS_IN_3D", True)  # 3-D layers run grouped by default: check their taps too
    torch.manual_seed(0)


def passes(critics, x, rule, frozen=False):
    """Logits, the input's gradient and the parameters' gradients of a weighted sum of the logits."""
    projections.TAPS_MIN_CHANNELS = rule
    critics.zero_grad(set_to_none=True)
    critics.requires_grad_(not frozen)
    x = x.clone().requires_grad_()
    logits = critics(x)
    (logits * torch.linspace(-1, 1, logits.numel()).view_as(logits)).sum().backward()
    return logits.detach(), x.grad, [p.grad for p in critics.parameters()]


CASES = [  # the paper's geometry, a smaller frame with two channels, shrunken kernels on short clips
    ("frames 30", lambda ms: ProjectedFrameCritics(3, 1, 30, (4, 6, 8), minibatch_std=ms), (5, 1, 30, 30)),
    ("frames 16", lambda ms: ProjectedFrameCritics(2, 2, 16, (3, 5), minibatch_std=ms), (4, 2, 16, 16)),
    ("video 30", lambda ms: ProjectedVideoCritics(3, 1, 30, 30, (4, 6, 8), minibatch_std=ms), (2, 1, 30, 30, 30)),
    ("video 8x16", lambda ms: ProjectedVideoCritics(2, 1, 8, 16, (3, 4, 5), minibatch_std=ms), (3, 1, 8, 16, 16)),
]


@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("minibatch_std", [False, True])
def test_tap_gemms_give_the_grouped_convolutions_logits_and_gradients(name, make, shape, minibatch_std):
    critics, x = make(minibatch_std), torch.randn(shape)
    grouped, taps = passes(critics, x, GROUPED), passes(critics, x, TAPS)
    assert torch.allclose(grouped[0], taps[0], atol=1e-5)
    assert torch.allclose(grouped[1], taps[1], atol=1e-5)
    for g, t in zip(grouped[2], taps[2]):
        assert torch.allclose(g, t, atol=1e-5, rtol=1e-5)


def test_layers_can_mix_the_two_ways():
    """Wide layers as taps, narrow ones grouped (the rule's cut between them), still the same maths."""
    critics, x = ProjectedFrameCritics(3, 1, 30, (4, 6, 8), minibatch_std=True), torch.randn(4, 1, 30, 30)
    grouped, mixed = passes(critics, x, GROUPED), passes(critics, x, 6)  # layer 2 (6 in) and the head as taps
    assert torch.allclose(grouped[0], mixed[0], atol=1e-5) and torch.allclose(grouped[1], mixed[1], atol=1e-5)
    assert all(torch.allclose(g, m, atol=1e-5) for g, m in zip(grouped[2], mixed[2]))


def test_frozen_critics_compute_no_weight_gradients_but_pass_the_inputs_gradient():
    critics, x = ProjectedVideoCritics(2, 1, 8, 16, (3, 4)), torch.randn(2, 1, 8, 16, 16)
    logits, grad_x, grads = passes(critics, x, TAPS, frozen=True)
    assert all(g is None for g in grads)
    assert torch.allclose(grad_x, passes(critics, x, GROUPED, frozen=True)[1], atol=1e-5)


@pytest.mark.parametrize("size, kernel, stride, padding", [(4, 4, 2, 1), (8, 4, 2, 1), (15, 4, 2, 2), (3, 4, 1, 1),
                                                            (7, 4, 1, 0), (9, 4, 2, 1), (2, 4, 1, 1), (5, 3, 3, 2)])
def test_the_plan_meets_every_input_tap_once_and_no_padding(size, kernel, stride, padding):
    """On a 2-D map: each (output, tap) pair whose input lies inside the map is in exactly one GEMM."""
    outs, plan = _tap_plan((size, size), (kernel, kernel), (stride, stride), (padding, padding))
    covered = []
    for ((ty, lo_y, hi_y),), (t0, t1, lo_x, hi_x) in plan:
        covered += [(oy, ox, ty, tx) for oy in range(lo_y, hi_y) for ox in range(lo_x, hi_x) for tx in range(t0, t1)]
    inside = lambda o, t: 0 <= o * stride - padding + t < size  # noqa: E731
    every = itertools.product(range(outs[0]), range(outs[1]), range(kernel), range(kernel))
    expected = [(oy, ox, ty, tx) for oy, ox, ty, tx in every if inside(oy, ty) and inside(ox, tx)]
    assert sorted(covered) == sorted(expected) and len(covered) == len(set(covered))


def test_the_weights_stay_grouped_convolution_parameters_in_checkpoints():
    """Same state_dict keys and shapes as before; a state saved contiguous (as safetensors writes it) loads
    back channels-last, where the taps read it in place, and gives the same logits both ways."""
    critics = ProjectedFrameCritics(2, 1, 30, (4, 6, 8))
    state = {k: v.contiguous().clone() for k, v in critics.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "projection": (2, 1, 8, 8), "body.0.weight": (8, 1, 4, 4), "body.0.bias": (8,),
        "body.2.weight": (12, 4, 4, 4), "body.2.bias": (12,), "body.4.weight": (16, 6, 4, 4), "body.4.bias": (16,),
        "head.weight": (2, 8, 4, 4), "head.bias": (2,)}
    other = ProjectedFrameCritics(2, 1, 30, (4, 6, 8), seed=5)
    other.load_state_dict(state)
    assert other.head.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(3, 1, 30, 30)
    assert torch.allclose(passes(other, x, TAPS)[0], passes(critics, x, GROUPED)[0], atol=1e-6)


def test_by_default_the_taps_serve_wide_frame_layers_only(monkeypatch):
    monkeypatch.setattr(projections, "TAPS_IN_3D", False)
    projections.TAPS_MIN_CHANNELS = 512
    frames, video = ProjectedFrameCritics(2, 1, 30, (4, 4, 512)), ProjectedVideoCritics(2, 1, 8, 16, (4, 512))
    h2, h3 = torch.zeros(1), torch.zeros(1)
    assert [projections._use_taps(m, h2) for m in (*frames.body[::2], frames.head)] == [False, False, False, True]
    assert [projections._use_taps(m, h3) for m in (*video.body[::2], video.head)] == [False, False, False]
    assert not projections._use_taps(frames.head, h2.to(torch.float64))


def test_weights_in_another_layout_fall_back_to_grouped_convolutions():
    critics = ProjectedFrameCritics(2, 1, 30, (4, 6, 8))
    x = torch.randn(3, 1, 30, 30)
    expected = passes(critics, x, GROUPED)
    critics.to(memory_format=torch.contiguous_format)
    got = passes(critics, x, TAPS)
    assert torch.allclose(expected[0], got[0], atol=1e-6)
    assert all(torch.allclose(g, t, atol=1e-5) for g, t in zip(expected[2], got[2]))


def test_the_shipped_model_still_loads_and_its_critics_rebuild_with_the_same_layout():
    """The shipped manifold-traverse holds the sampling modules; the critics its config builds (what a
    resumed run loads) keep the grouped-conv parameter names and shapes."""
    from vidsynth.checkpoint import resolve_run
    from vidsynth.pretrained import load_model

    path, _ = resolve_run("manifold-traverse", "pretrained")
    run = load_model(path, plugin_name="manifold-traverse")
    assert set(run.modules) >= {"frame_generator", "video_generator"}
    critics = run.plugin.build(run.config)["frame_critics"]
    k, widths = run.config.frame_critics, run.config.frame_critic_widths
    assert critics.body[0].weight.shape == (k * widths[0], 1, 4, 4) and critics.head.weight.shape[0] == k
    with torch.no_grad():
        video = run.plugin.sample(run.modules, run.config, None, 1, torch.Generator().manual_seed(0), frames=4)
    assert video.shape == (1, run.config.channels, 4, run.config.size, run.config.size)

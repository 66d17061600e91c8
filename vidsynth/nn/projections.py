"""K discriminators, each looking at the input through its own fixed random projection (Neyshabur,
Bhojanapalli & Chakrabarti 2017, "Stabilizing GAN training with multiple random projections"; used by
Monteiro et al. 2018 with K = 48 frame and K' = 16 video discriminators).

Each projection is a fixed, never-trained, norm-1 convolution that maps the input to a smaller
one-channel image (frames: Conv2d(C, 1, 8, stride 2, padding 3)) or video (Conv3d(C, 1, (1, 8, 8),
stride (1, 3, 3), padding (0, 2, 2))), exactly as in the authors' code (belaalb/frameGAN, where it is a
weight-normalised conv with g = 1 left out of the optimiser). Behind it sits a DCGAN-like discriminator
(2D or 3D strided convolutions, leaky ReLU 0.2, no normalisation, normal(0, 0.02) init).

The K discriminators are stored as *one* network of grouped convolutions (``groups=K``): group k's
weights only ever see projection k, so this is mathematically K independent discriminators (same
parameters, same gradients). Each layer runs either as that grouped convolution or, for the wide 2-D
layers on the CPU, as batched GEMMs over the kernel taps that meet the input (``_TapConv``; why and when:
the comments above ``_runs`` and ``_use_taps``), never as a Python loop of K small convolutions. The
projections are a persistent buffer (``projection``): saved in the checkpoint, restored on load, never touched by an optimiser, drawn from a seeded generator so a config rebuilds the same ones.

Geometry: the layer strides and paddings are the authors'; where a clip is shorter or a frame smaller
than theirs (30 frames of 30x30), a kernel that would not fit the remaining map shrinks to its size, so
every input of at least one frame of 8x8 yields at least one logit per discriminator. The logits of all
remaining positions are averaged: the output is ``[B, K]``.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, Sequence

import torch
from torch import Tensor, nn


# Memory format: grouped convolutions are far faster channels-last on CPU (oneDNN). Measured (2 threads,
# shared 2-core machine): 31 ms vs
# 644 ms for a forward + backward of 8 frame critics (widths 16-32-64) on 128 frames, and 25 ms vs 284 ms
# for 4 video critics on 16 clips of 30 frames; contiguous NCHW grouped convs take a slow path. Weights
# are stored channels-last (``.to(device)`` and ``load_state_dict`` keep that layout) and inputs are made
# channels-last in ``forward``. That layout is also what lets ``_TapConv`` read the weights in place. Those
# measurements were of the ``small`` preset's narrow critics; at the paper's widths the grouped conv is
# slower than the authors' loop of 48 single convolutions on the 4x4 -> 2x2 layer (issue 17's profile),
# which is what the taps replace.


def random_projections(count: int, shape: Sequence[int], seed: int) -> Tensor:
    """``count`` Gaussian filters of ``shape`` (channels first), each scaled to unit L2 norm."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    weights = torch.randn(count, *shape, generator=generator, device="cpu")
    weights = weights / weights.flatten(1).norm(dim=1).view(count, *([1] * len(shape)))
    return weights.to(torch.empty(0).device)  # follows a `with torch.device(...)` context (meta in tests)


def _fit(kernel: int, size: int, stride: int, padding: int) -> tuple[int, int]:
    """(kernel, padding) for one axis: the authors' kernel unless it is larger than the padded map."""
    if size + 2 * padding >= kernel:
        return kernel, padding
    return max(1, size + 2 * padding), padding


def _out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _init_dcgan(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def minibatch_std(h: Tensor, count: int) -> Tensor:
    """Append to each of the ``count`` groups of ``h`` ``[B, count * w, *spatial]`` one channel holding that
    group's feature standard deviation over the batch, averaged to a scalar (Karras et al. 2018, section 3,
    with the whole batch as the group): a critic can then see that a batch lacks variety."""
    b, spatial = h.shape[0], h.shape[2:]
    groups = h.reshape(b, count, -1, *spatial)
    std = groups.float().std(0, unbiased=False).flatten(1).mean(1).to(h.dtype)  # [count]
    extra = std.view(1, count, 1, *([1] * len(spatial))).expand(b, count, 1, *spatial)
    return torch.cat([groups, extra], dim=2).reshape(b, -1, *spatial)


# -- the critics' convolutions as batched GEMMs over their real taps ------------------------------------
# Measured reasons (benchmarks/RESULTS.md, "Performance: manifold-traverse against belaalb/frameGAN"): on
# the CPU the paper's critic layers run on tiny maps (frames 15 -> 8 -> 4 -> 2 -> 1, videos 30x9x9 ->
# 15x4x4 -> 7x3x3 -> 4x2x2 -> 1), where (a) oneDNN's grouped and even its single convolutions are slow
# (a 4x4 -> 2x2 map is four output positions per frame: poor blocking), and (b) most kernel taps of the
# deeper layers fall on zero padding (layer 3 of a frame critic: 9 of 16 taps are real, of a video critic
# 36 of 64). ``_TapConv`` computes a layer of K critics as one batched GEMM (``torch.bmm`` over the K
# critics) per kernel tap of the leading axes and per run of outputs along the last axis that see the same
# taps, skipping the padding: the same sums, fewer multiply-adds, large GEMMs. Its weights are the grouped
# conv's parameter, read in place: a channels-last ``[K * out, in, *kernel]`` weight is ``[K, out,
# *kernel, in]`` in memory, so every tap's ``[K, out, taps * in]`` block is a strided view, never a copy.
# Which layers use it is ``_use_taps`` (a rule from the measurements): the wide 2-D layers (>= 512 channels
# in); narrow layers (the ``small`` preset) and 3-D layers stay grouped convolutions, which win there.


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """[lo, hi) runs of consecutive integers."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] == v:
            runs[-1] = (runs[-1][0], v + 1)
        else:
            runs.append((v, v + 1))
    return runs


Tap = tuple[tuple[tuple[int, int, int], ...], tuple[int, int, int, int]]


@functools.lru_cache(maxsize=None)
def _tap_plan(sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
              padding: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[Tap, ...]]:
    """Output sizes, and the GEMMs of a convolution that skip the padding: for every combination of taps of
    the leading axes ``(tap, out_lo, out_hi)`` (the outputs that tap reaches inside the input) and every
    run ``(tap_lo, tap_hi, out_lo, out_hi)`` of last-axis outputs that see the same taps inside the input."""
    outs = tuple(_out(n, k, s, p) for n, k, s, p in zip(sizes, kernel, stride, padding))
    lead = []
    for n, k, s, p, m in list(zip(sizes, kernel, stride, padding, outs))[:-1]:
        axis = []
        for t in range(k):
            inside = [o for o in range(m) if 0 <= o * s - p + t < n]
            axis += [(t, lo, hi) for lo, hi in _runs(inside)]
        lead.append(axis)
    n, k, s, p, m = sizes[-1], kernel[-1], stride[-1], padding[-1], outs[-1]
    by_taps: dict[tuple[int, int], list[int]] = {}
    for o in range(m):
        taps = [t for t in range(k) if 0 <= o * s - p + t < n]
        if taps:
            by_taps.setdefault((taps[0], taps[-1] + 1), []).append(o)
    last = [(t0, t1, lo, hi) for (t0, t1), outs_ in by_taps.items() for lo, hi in _runs(outs_)]
    return outs, tuple((combo, run) for combo in itertools.product(*lead) for run in last)


def _input_slices(combo: tuple[tuple[int, int, int], ...], stride: tuple[int, ...],
                  padding: tuple[int, ...]) -> list[slice]:
    """The input rows that the outputs ``lo..hi`` of each leading axis read through tap ``t``."""
    return [slice(lo * s - p + t, (hi - 1) * s - p + t + 1, s) for (t, lo, hi), s, p in zip(combo, stride, padding)]


def _windows(x: Tensor, combo: Any, run: tuple[int, int, int, int], stride: tuple[int, ...],
             padding: tuple[int, ...]) -> list[Tensor]:
    """For each last-axis tap of ``run``, the input it meets: ``[K, B, *lead_outputs, run_outputs, C]`` views."""
    lead = _input_slices(combo, stride, padding)
    t0, t1, lo, hi = run
    s, p = stride[-1], padding[-1]
    return [x[(slice(None), slice(None), *lead, slice(lo * s - p + t, (hi - 1) * s - p + t + 1, s))]
            for t in range(t0, t1)]


def _output_index(combo: Any, run: tuple[int, int, int, int]) -> tuple[slice, ...]:
    return (slice(None), slice(None), *(slice(lo, hi) for _, lo, hi in combo), slice(run[2], run[3]))


def _weight_index(combo: Any, run: tuple[int, int, int, int]) -> tuple[Any, ...]:
    return (slice(None), slice(None), *(t for t, _, _ in combo), slice(run[0], run[1]))


class _TapConv(torch.autograd.Function):
    """K independent convolutions: ``x [K, B, *sizes, in]``, ``w [K, out, *kernel, in]``, ``b [K, out]`` ->
    ``[K, B, *outs, out]``, as batched GEMMs over the taps that meet the input (see ``_tap_plan``)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, b: Tensor, stride: tuple[int, ...], padding: tuple[int, ...]) -> Tensor:
        k, batch, c_in, c_out = x.shape[0], x.shape[1], x.shape[-1], w.shape[1]
        outs, plan = _tap_plan(tuple(x.shape[2:-1]), tuple(w.shape[2:-1]), stride, padding)
        y = b.view(k, 1, *([1] * len(outs)), c_out).expand(k, batch, *outs, c_out).contiguous()
        for combo, run in plan:
            cols = torch.stack(_windows(x, combo, run, stride, padding), -2)  # [K, B, *lead, n, taps, in]
            taps = w[_weight_index(combo, run)].reshape(k, c_out, -1)  # a view (see the comment above)
            y[_output_index(combo, run)] += torch.bmm(cols.view(k, -1, cols.shape[-2] * c_in),
                                                      taps.transpose(1, 2)).view(*cols.shape[:-2], c_out)
        ctx.save_for_backward(x, w)
        ctx.geometry = stride, padding
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, w = ctx.saved_tensors
        stride, padding = ctx.geometry
        k, c_in, c_out = x.shape[0], x.shape[-1], w.shape[1]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        _, plan = _tap_plan(tuple(x.shape[2:-1]), tuple(w.shape[2:-1]), stride, padding)
        grad_x = torch.zeros_like(x) if need_x else None
        grad_w = torch.zeros_like(w) if need_w else None  # same strides as w: each tap's block is a view
        grad_b = grad.sum(tuple(range(1, grad.dim() - 1))) if need_b else None
        for combo, run in plan:
            g = grad[_output_index(combo, run)]
            lead_shape = g.shape[:-1]
            g = g.reshape(k, -1, c_out)
            if need_w:
                cols = torch.stack(_windows(x, combo, run, stride, padding), -2)
                block = grad_w[_weight_index(combo, run)].view(k, c_out, -1)  # written in place
                block.baddbmm_(g.transpose(1, 2), cols.view(k, g.shape[1], -1))
            if need_x:
                taps = w[_weight_index(combo, run)].reshape(k, c_out, -1)
                cols = torch.bmm(g, taps).view(*lead_shape, run[1] - run[0], c_in)
                for j, window in enumerate(_windows(grad_x, combo, run, stride, padding)):
                    window += cols[..., j, :]
        return grad_x, grad_w, grad_b, None, None


def _use_taps(conv: nn.Module, h: Tensor) -> bool:
    """Run this layer as ``_TapConv``? On the CPU in fp32, for 2-D layers of >= ``TAPS_MIN_CHANNELS`` input
    channels per critic. Measured (benchmarks/bench_critics.py): the paper's frame critics' layer 3 (512 ->
    1024 on 4x4 maps) and head as taps make the critics 1.85x faster than all grouped; taps for layer 2 as
    well (256 -> 512 on 8x8 maps, 14 of 16 taps real) add nothing, and the ``small`` preset's 16-64
    channel layers lose (GEMMs too thin). 3-D layers stay grouped: with 64 taps the gathers and the
    accumulation of partial sums cost more than the multiply-adds saved (the paper's video critics were no
    faster with layer 3 and the head as taps). Elsewhere (GPUs, autocast) the grouped conv."""
    w = conv.weight
    in_place = w.is_contiguous(memory_format=torch.channels_last if w.dim() == 4 else torch.channels_last_3d)
    return (h.device.type == "cpu" and h.dtype == torch.float32 == w.dtype and in_place
            and not torch.is_autocast_enabled("cpu") and conv.in_channels // conv.groups >= TAPS_MIN_CHANNELS
            and (w.dim() == 4 or TAPS_IN_3D))


TAPS_MIN_CHANNELS = 512
TAPS_IN_3D = False  # see _use_taps; the tests switch it on to check the 3-D maths


def _stacked(h: Tensor, count: int) -> Tensor:
    """Grouped layout ``[B, K * C, *spatial]`` -> the critics' stacked layout ``[K, B, *spatial, C]``."""
    h = h.unflatten(1, (count, -1))
    return h.permute(1, 0, *range(3, h.dim()), 2).contiguous()


def _grouped(h: Tensor, memory_format: torch.memory_format) -> Tensor:
    """Stacked layout ``[K, B, *spatial, C]`` -> grouped ``[B, K * C, *spatial]`` (channels-last in memory)."""
    k, b, c = h.shape[0], h.shape[1], h.shape[-1]
    h = h.permute(1, *range(2, h.dim() - 1), 0, h.dim() - 1).reshape(b, *h.shape[2:-1], k * c)
    return h.permute(0, h.dim() - 1, *range(1, h.dim() - 1)).contiguous(memory_format=memory_format)


def _tap_conv(conv: nn.Module, h: Tensor, count: int) -> Tensor:
    """``conv`` (grouped, ``groups = count``) on stacked ``h``, its weight and bias read in place."""
    w = conv.weight
    per = w.shape[0] // count
    w = w.permute(0, *range(2, w.dim()), 1).unflatten(0, (count, per))  # [K, out, *kernel, in], a view
    return _TapConv.apply(h, w, conv.bias.view(count, per), tuple(conv.stride), tuple(conv.padding))


def _minibatch_std_stacked(h: Tensor) -> Tensor:
    """``minibatch_std`` for the stacked layout ``[K, B, *spatial, C]``."""
    std = h.float().std(1, unbiased=False).flatten(1).mean(1).to(h.dtype)  # [K]
    extra = std.view(-1, *([1] * (h.dim() - 1))).expand(*h.shape[:-1], 1)
    return torch.cat([h, extra], dim=-1)


class _ProjectedCritics(nn.Module):
    """What the frame and video critics share: the projection buffer, the grouped conv body, the head."""

    count: int
    body: nn.Sequential
    head: nn.Module
    use_minibatch_std: bool

    def _start(self, count: int, widths: Sequence[int], minibatch_std: bool, shape: tuple[int, ...], seed: int) -> None:
        """Check the sizes and register the K fixed, never-trained projections (saved in checkpoints)."""
        if count < 1 or not widths:
            raise ValueError("need at least one discriminator and one conv layer")
        self.count, self.use_minibatch_std = count, minibatch_std
        self.register_buffer("projection", random_projections(count, shape, seed))

    def _finish(self, memory_format: torch.memory_format) -> None:
        _init_dcgan(self)
        self.memory_format = memory_format
        self.to(memory_format=memory_format)  # see "Memory format" above (the projection buffer too)

    def _logits(self, projected: Tensor, batches: Sequence[int] | None) -> Tensor:
        """The body and the head, each conv as a grouped conv or a ``_TapConv`` (``_use_taps``); the
        activations change layout only where the kind of layer changes. ``batches``: the sizes of the
        batches stacked in ``projected`` (e.g. real, then generated), each with its own minibatch-std."""
        h, stacked = projected.contiguous(memory_format=self.memory_format), False
        convs = [m for m in self.body if not isinstance(m, nn.LeakyReLU)] + [self.head]
        for i, conv in enumerate(convs):
            if i == len(convs) - 1 and self.use_minibatch_std:
                axis = 1 if stacked else 0
                parts = h.split(list(batches), axis) if batches else [h]
                spread = [_minibatch_std_stacked(part) if stacked else minibatch_std(part, self.count) for part in parts]
                h = torch.cat(spread, axis) if len(spread) > 1 else spread[0]
            taps = _use_taps(conv, h)
            if taps != stacked:
                h = _stacked(h, self.count) if taps else _grouped(h, self.memory_format)
                stacked = taps
            h = _tap_conv(conv, h, self.count) if taps else conv(h.contiguous(memory_format=self.memory_format))
            if i < len(convs) - 1:
                h = nn.functional.leaky_relu(h, 0.2, inplace=True)
        if stacked:
            return h.flatten(2, -1).mean(2).t()  # [K, B, *outs, 1] -> [B, K]
        return h.flatten(2).mean(2)


class ProjectedFrameCritics(_ProjectedCritics):
    """K frame discriminators on fixed random projections: ``[B, C, H, W] -> logits [B, K]``.

    ``widths`` are each discriminator's conv widths (the authors': 256, 512, 1024; 10.5M parameters each).
    Layer 0 is 4x4 stride 2 padding 2, the others 4x4 stride 2 padding 1, then a 4x4 stride-1 padding-1
    conv to one logit per position. ``minibatch_std`` (not in the paper) gives that last conv one more
    input channel per critic: the batch's feature spread (see ``minibatch_std``). With it, pass real and
    generated batches separately, or stacked with ``batches=(n_real, n_fake)``.
    """

    def __init__(
        self,
        count: int,
        channels: int,
        size: int,
        widths: Sequence[int] = (256, 512, 1024),
        seed: int = 0,
        minibatch_std: bool = False,
    ):
        super().__init__()
        self._start(count, widths, minibatch_std, (channels, 8, 8), seed)
        side = _out(size, 8, 2, 3)
        if side < 1:
            raise ValueError(f"frames of {size}x{size} are too small for the 8x8 projection")
        layers: list[nn.Module] = []
        c_in = 1
        for i, width in enumerate(widths):
            kernel, pad = _fit(4, side, 2, 2 if i == 0 else 1)
            layers += [nn.Conv2d(count * c_in, count * width, kernel, 2, pad, groups=count), nn.LeakyReLU(0.2, True)]
            side = _out(side, kernel, 2, pad)
            c_in = width
        kernel, pad = _fit(4, side, 1, 1)
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(count * (c_in + minibatch_std), count, kernel, 1, pad, groups=count)
        self._finish(torch.channels_last)

    def forward(self, frames: Tensor, batches: Sequence[int] | None = None) -> Tensor:
        """``batches``: sizes of the batches stacked in ``frames`` (each gets its own minibatch-std)."""
        projected = nn.functional.conv2d(frames, self.projection.to(frames.dtype), stride=2, padding=3)
        return self._logits(projected, batches)


class ProjectedVideoCritics(_ProjectedCritics):
    """K video discriminators on fixed random projections: ``[B, C, T, H, W] -> logits [B, K]``.

    ``widths`` are each discriminator's 3D conv widths (the authors': 256, 512, 768; 33.6M parameters
    each). All kernels 4x4x4: layer 0 stride 2 padding 1, layer 1 stride (2, 1, 1) padding 1, later layers
    and the output conv stride 1 padding (0, 1, 1). ``minibatch_std`` as for the frame critics.
    """

    def __init__(
        self,
        count: int,
        channels: int,
        frames: int,
        size: int,
        widths: Sequence[int] = (256, 512, 768),
        seed: int = 0,
        minibatch_std: bool = False,
    ):
        super().__init__()
        self._start(count, widths, minibatch_std, (channels, 1, 8, 8), seed)
        t, side = frames, _out(size, 8, 3, 2)
        if side < 1:
            raise ValueError(f"frames of {size}x{size} are too small for the 8x8 projection")
        layers: list[nn.Module] = []
        c_in = 1
        geometry = [((2, 2), (1, 1)), ((2, 1), (1, 1))]  # ((stride_t, stride_s), (pad_t, pad_s)) per layer
        for i, width in enumerate(widths):
            (st, ss), (pt, ps) = geometry[i] if i < len(geometry) else ((1, 1), (0, 1))
            kt, pt = _fit(4, t, st, pt)
            ks, ps = _fit(4, side, ss, ps)
            conv = nn.Conv3d(count * c_in, count * width, (kt, ks, ks), (st, ss, ss), (pt, ps, ps), groups=count)
            layers += [conv, nn.LeakyReLU(0.2, True)]
            t, side, c_in = _out(t, kt, st, pt), _out(side, ks, ss, ps), width
        kt, pt = _fit(4, t, 1, 0)
        ks, ps = _fit(4, side, 1, 1)
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv3d(count * (c_in + minibatch_std), count, (kt, ks, ks), 1, (pt, ps, ps), groups=count)
        self._finish(torch.channels_last_3d)

    def forward(self, video: Tensor, batches: Sequence[int] | None = None) -> Tensor:
        """``batches``: sizes of the batches stacked in ``video`` (each gets its own minibatch-std)."""
        projected = nn.functional.conv3d(video, self.projection.to(video.dtype), stride=(1, 3, 3), padding=(0, 2, 2))
        return self._logits(projected, batches)

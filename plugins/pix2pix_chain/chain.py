"""The networks, one prediction, the training step and the chained sampler of ``pix2pix-chain`` (imported
inside the plugin's methods, so the plugin module itself stays free of torch)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from vidsynth.nn import frozen
from vidsynth.nn.losses import nonsaturating_discriminator_loss, nonsaturating_generator_loss
from vidsynth.nn.motion import MotionExtrapolation
from vidsynth.nn.patchgan import PatchDiscriminator
from vidsynth.nn.unet import UNet


def build_networks(config: Any) -> dict[str, nn.Module]:
    """U-Net G: the last ``context`` frames (stacked along channels) -> the next frame; PatchGAN D: the
    context and a (real or predicted) next frame, stacked along channels -> a map of patch logits."""
    c, k = config.channels, config.context
    generator = UNet(
        k * c, c, levels=config.levels, base_channels=config.gen_channels, max_channels=config.gen_max_channels,
        norm=config.norm, dropout=config.dropout, final="tanh",
    )
    if config.residual:  # start exactly at copy-last-frame: the change is 0 until training moves it
        nn.init.zeros_(generator.output_conv.weight)
        nn.init.zeros_(generator.output_conv.bias)
    if config.motion_prior:  # the change is added to the last frame moved along the last two frames' motion
        generator.motion = MotionExtrapolation(radius=config.motion_radius)
    discriminator = PatchDiscriminator((k + 1) * c, config.disc_channels, config.disc_layers, config.norm)
    return {"generator": generator, "discriminator": discriminator}


def stack_frames(frames: Tensor) -> Tensor:
    """``[B, C, K, H, W] -> [B, K*C, H, W]``: frame-major channels (all channels of frame 0, then frame 1, ...)."""
    b, c, k, h, w = frames.shape
    return frames.transpose(1, 2).reshape(b, k * c, h, w)


def predict_next(generator: nn.Module, history: Tensor, residual: bool) -> Tensor:
    """The next frame ``[B, C, H, W]`` from the last K frames ``[B, C, K, H, W]``.

    ``residual``: the U-Net's tanh output, times 2, is a change added to the last frame (clamped to
    [-1, 1]), so "no change" (copy-last-frame) is the zero output; otherwise the output is the frame itself.
    A generator with a ``motion`` module (``motion_prior``) adds the change to that module's guess from the
    last two frames instead of to the last frame.
    """
    out = generator(stack_frames(history))
    if residual:
        motion = getattr(getattr(generator, "module", generator), "motion", None)  # DDP wraps the U-Net
        base = history[:, :, -1] if motion is None else motion(history[:, :, -2], history[:, :, -1])
        out = (base + 2.0 * out).clamp(-1.0, 1.0)
    return out


def push(history: Tensor, frame: Tensor) -> Tensor:
    """Slide the K-frame window: drop the oldest frame, append ``frame`` ``[B, C, H, W]``."""
    return torch.cat([history[:, :, 1:], frame.unsqueeze(2)], dim=2)


def random_windows(video: Tensor, length: int, per_clip: int) -> Tensor:
    """``per_clip`` windows of ``length`` consecutive frames from each clip, at uniformly random offsets:
    ``[B, C, T, H, W] -> [B * per_clip, C, length, H, W]``."""
    b, _, t = video.shape[:3]
    starts = torch.randint(0, t - length + 1, (b, per_clip), device=video.device)
    steps = torch.arange(length, device=video.device)
    index = (starts.unsqueeze(-1) + steps).reshape(b * per_clip, length)  # frame indices per window
    clips = video.repeat_interleave(per_clip, dim=0)  # [B * per_clip, C, T, H, W]
    gather = index.view(b * per_clip, 1, length, 1, 1).expand(-1, video.shape[1], -1, *video.shape[3:])
    return clips.gather(2, gather)


def train_step(ctx: Any, video: Tensor) -> dict[str, float]:
    """One pix2pix update (D then G) on windows of ``context + unroll`` frames.

    The generator predicts frame k from the true frames 0..k-1; with ``unroll`` = u > 1 it then predicts
    the next u-1 frames from windows that include its own earlier predictions (gradients flow back
    through them when ``unroll_backprop``; otherwise they are fed back detached). Every prediction is a
    (context, output) pair for the PatchGAN and an L1 term against the true frame; real pairs use the same
    context the generator saw. Losses as Isola et al.: D minimises half the summed BCE of real and fake
    pairs; G minimises the non-saturating GAN loss + ``l1_weight`` x L1, averaged over the u predictions.
    """
    cfg = ctx.config
    k, u = cfg.context, cfg.unroll
    windows = random_windows(video, k + u, cfg.windows_per_clip)
    generator = ctx.modules["generator"]
    history = windows[:, :, :k]
    contexts, fakes = [], []
    with ctx.autocast():
        for _ in range(u):
            frame = predict_next(generator, history, cfg.residual)
            contexts.append(stack_frames(history))
            fakes.append(frame)
            history = push(history, frame if cfg.unroll_backprop else frame.detach())
    context = torch.cat(contexts)  # step-major: all windows at step 0, then at step 1, ...
    fake = torch.cat(fakes)
    n, c, _, h, w = windows.shape
    real = windows[:, :, k:].permute(2, 0, 1, 3, 4).reshape(u * n, c, h, w)  # the same order

    with ctx.autocast():
        d_real = ctx.modules["discriminator"](torch.cat([context.detach(), real], 1))
        d_fake = ctx.modules["discriminator"](torch.cat([context.detach(), fake.detach()], 1))
    d_loss = 0.5 * nonsaturating_discriminator_loss(d_real.float(), d_fake.float())
    ctx.optimize("discriminator", d_loss)

    with frozen(ctx.unwrap("discriminator")) as discriminator, ctx.autocast():
        g_logits = discriminator(torch.cat([context, fake], 1))
    g_gan = nonsaturating_generator_loss(g_logits.float())
    l1_per_step = (fake.float() - real).abs().flatten(1).mean(1).view(u, n).mean(1)
    g_l1 = l1_per_step.mean()
    ctx.optimize("generator", g_gan + cfg.l1_weight * g_l1)
    # one host transfer for the five logged numbers (each .item() is a device sync on a GPU)
    values = torch.stack([d_loss, g_gan, g_l1, l1_per_step[0], l1_per_step[-1]]).detach().tolist()
    return dict(zip(("d_loss", "g_gan", "g_l1", "l1_first", "l1_last"), values))


def starting_history(condition: Tensor, context: int) -> Tensor:
    """The last ``context`` given frames; with fewer given, the first one repeated in front (a still past)."""
    given = condition.shape[2]
    if given >= context:
        return condition[:, :, given - context:]
    pad = condition[:, :, :1].expand(-1, -1, context - given, -1, -1)
    return torch.cat([pad, condition], dim=2)


def chain(generator: nn.Module, condition: Tensor, frames: int, context: int, residual: bool) -> Tensor:
    """The given frames followed by ``frames - K`` predictions, each made from the previous ``context``
    frames (predictions fed back in): ``[n, C, frames, H, W]``."""
    history = starting_history(condition, context)
    out = [condition]
    for _ in range(frames - condition.shape[2]):
        frame = predict_next(generator, history, residual)
        out.append(frame.unsqueeze(2))
        history = push(history, frame)
    return torch.cat(out, dim=2)


@contextlib.contextmanager
def dropout_noise(generator: nn.Module, rng: torch.Generator) -> Iterator[None]:
    """pix2pix's test-time noise: the U-Net's dropout layers on (batch norm stays in eval mode), with the
    dropout masks drawn from a global RNG seeded from ``rng``, restored afterwards."""
    layers = [m for m in generator.modules() if isinstance(m, nn.Dropout)]
    seed = int(torch.randint(0, 2**62, (1,), generator=rng, device=rng.device).item())
    devices = [rng.device] if rng.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for layer in layers:
            layer.train()
        try:
            yield
        finally:
            for layer in layers:
                layer.eval()

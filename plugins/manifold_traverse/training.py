"""One training step of each phase, and the pieces they share (imported inside the plugin's methods, so the
plugin module itself stays free of torch)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vidsynth.nn import frozen
from vidsynth.nn.losses import (
    mode_seeking_loss,
    motion_matching_loss,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
)
from vidsynth_plugins.manifold_traverse.networks import render_video


def random_frames(video: Tensor, count: int) -> Tensor:
    """``count`` frames ``[count, C, H, W]`` drawn from the clips ``[B, C, T, H, W]`` (without replacement
    while there are enough: phase 1 sees frames from many clips and times in one batch)."""
    b, c, t, h, w = video.shape
    pool = video.transpose(1, 2).reshape(b * t, c, h, w)
    if count <= b * t:
        index = torch.randperm(b * t, device=video.device)[:count]
    else:
        index = torch.randint(0, b * t, (count,), device=video.device)
    return pool[index]


def adversarial_step(
    ctx: Any, generator: str, critics: str, real: Tensor, fake: Tensor, motion_weight: float = 0.0,
    noise: Tensor | None = None, diversity_weight: float = 0.0,
) -> dict[str, float]:
    """One update of the K critics, then one of the generator, on the same fake batch.

    Critic loss: the sum over the K discriminators of each one's binary cross-entropy (real vs fake), so
    each gets exactly its own gradient, as if it had its own optimiser. Generator loss: the mean over the
    K discriminators of the non-saturating loss (Neyshabur et al.: the generator fools all of them).
    Real and generated batches go through the critics in one pass (the critics treat each sample alone,
    so the logits are those of two passes, and the convolutions twice as tall); a minibatch-std channel,
    when on, is still computed over each batch on its own (it describes one kind of batch).
    ``motion_weight`` > 0 adds that times ``vidsynth.nn.losses.motion_matching_loss`` to the generator loss
    (videos only). ``diversity_weight`` > 0 adds that times ``vidsynth.nn.losses.mode_seeking_loss`` between
    the batch's two halves and their ``noise`` (no extra pass: the halves are two draws of the same model).
    """
    count = ctx.unwrap(critics).count
    sizes = [real.shape[0], fake.shape[0]]
    with ctx.autocast():
        both = ctx.modules[critics](torch.cat([real, fake.detach()]), batches=sizes).float()
    real_logits, fake_logits = both.split(sizes)
    d_loss = count * nonsaturating_discriminator_loss(real_logits, fake_logits)
    ctx.optimize(critics, d_loss)
    with frozen(ctx.unwrap(critics)) as bare, ctx.autocast():
        g_logits = bare(fake).float()
    g_loss = nonsaturating_generator_loss(g_logits)
    stats = {"d_loss": d_loss.item() / count, "g_loss": g_loss.item()}
    if motion_weight > 0:
        motion = motion_matching_loss(fake.float(), real.float())
        stats["motion_loss"] = motion.item()
        g_loss = g_loss + motion_weight * motion
    if diversity_weight > 0 and noise is not None and fake.shape[0] >= 2:
        half = fake.shape[0] // 2
        diverse = mode_seeking_loss(fake[:half].float(), fake[half:2 * half].float(), noise[:half], noise[half:2 * half])
        stats["mode_seeking"] = diverse.item()
        g_loss = g_loss + diversity_weight * diverse
    ctx.optimize(generator, g_loss)
    return stats


def frame_phase_step(ctx: Any, video: Tensor) -> dict[str, float]:
    """Phase 1: G_F on single frames against the K frame critics."""
    cfg = ctx.config
    g_f = ctx.unwrap("frame_generator")
    g_f.requires_grad_(True)
    g_f.train()
    real = random_frames(video, cfg.frame_batch)
    z = torch.randn(cfg.frame_batch, cfg.latent, device=ctx.device)
    with ctx.autocast():
        fake = ctx.modules["frame_generator"](z)
    return {"phase": 1.0, **adversarial_step(ctx, "frame_generator", "frame_critics", real, fake)}


def video_phase_step(ctx: Any, video: Tensor) -> dict[str, float]:
    """Phase 2: G_V through the frozen G_F (eval mode: its batch-norm statistics stay those of phase 1)
    against the K' video critics."""
    cfg = ctx.config
    g_f = ctx.unwrap("frame_generator")
    g_f.eval()
    g_f.requires_grad_(False)
    ctx.unwrap("video_generator").train()
    noise = torch.randn(video.shape[0], cfg.video_noise, device=ctx.device)
    with ctx.autocast():
        fake = render_video(g_f, ctx.modules["video_generator"](noise))
    stats = adversarial_step(ctx, "video_generator", "video_critics", video, fake, cfg.motion_weight, noise,
                             cfg.diversity_weight)
    return {"phase": 2.0, **stats}

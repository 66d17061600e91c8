"""One Wasserstein critic update, the part of a WGAN training step that ``wgan3d`` and ``convlstm`` share."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vidsynth.nn.losses import clip_weights_, drift_penalty, gradient_penalty, interpolate, wasserstein_critic_loss


def wasserstein_critic_update(
    ctx: Any,
    name: str,
    real: Tensor,
    fake: Tensor,
    *condition: Any,
    gp_weight: float | None = None,
    drift_weight: float = 0.0,
    clip: float | None = None,
    batched: bool = False,
) -> dict[str, float]:
    """One update of the critic ``ctx.modules[name]``, called as ``critic(video, *condition)``, on real and
    generated (no-grad) videos; returns the logged losses ``wasserstein`` (the critic's estimate of the
    distance), ``gp`` (when penalised) and ``critic`` (the loss it minimised).

    * ``gp_weight``: WGAN-GP (Gulrajani et al. 2017), the penalty at points between real and fake, computed
      in fp32 on the bare critic: a double backward through autocast or a DDP wrapper is fragile, and the
      parameters are shared, so the penalty's gradient still reaches the critic's optimiser. None: no penalty.
    * ``drift_weight``: ProGAN's ``E[D(real)^2]`` (Karras et al. 2018), keeps the scores near 0.
    * ``clip``: the original WGAN's weight clipping (Arjovsky et al. 2017), applied after the step.
    * ``batched``: score real and fake clips in one call of the critic on both (tensor conditions
      repeated), one larger batch instead of two passes forward and back. Only for a critic that scores
      each sample on its own (layer norm or none, no batch norm): then the scores are the same.
    """
    critic = ctx.modules[name]
    with ctx.autocast():
        if batched:
            both = critic(torch.cat([real, fake.to(real.dtype)]), *(_repeat(c) for c in condition))
            real_scores, fake_scores = both[: real.shape[0]], both[real.shape[0] :]
        else:
            real_scores, fake_scores = critic(real, *condition), critic(fake, *condition)
    w_loss = wasserstein_critic_loss(real_scores.float(), fake_scores.float())
    loss = w_loss
    losses = {"wasserstein": -w_loss.item()}
    if gp_weight is not None:
        bare = ctx.unwrap(name)
        penalty = gradient_penalty(lambda x: bare(x, *condition), interpolate(real, fake.float()))
        loss = loss + gp_weight * penalty
        losses["gp"] = penalty.item()
    if drift_weight > 0:
        loss = loss + drift_weight * drift_penalty(real_scores)
    ctx.optimize(name, loss)
    if clip is not None:
        clip_weights_(ctx.unwrap(name), clip)
    losses["critic"] = loss.item()
    return losses


def _repeat(condition: Any) -> Any:
    """A per-sample condition for a batch that holds the real clips, then the fake ones."""
    return torch.cat([condition, condition]) if isinstance(condition, Tensor) else condition


def frame_critic_update(
    ctx: Any, real: Tensor, fake: Tensor, frames: int, gp_weight: float, drift_weight: float = 0.0,
    name: str = "frame_critic",
) -> dict[str, float]:
    """One WGAN-GP update of the per-frame critic ``ctx.modules[name]`` (a ``FrameCritic2D``) on ``frames``
    random frames of each real and generated clip ``[B, C, T, H, W]`` (the same frame positions on both
    sides). Returns the logged losses prefixed ``frame_`` (``frame_wasserstein``, ``frame_gp``, ...)."""
    from vidsynth.nn.video_gan import pick_frames

    real_frames, index = pick_frames(real, frames)
    fake_frames, _ = pick_frames(fake, frames, index)
    losses = wasserstein_critic_update(
        ctx, name, real_frames, fake_frames, gp_weight=gp_weight, drift_weight=drift_weight, batched=True
    )
    return {f"frame_{key}": value for key, value in losses.items()}


def frame_generator_loss(ctx: Any, fake: Tensor, frames: int, name: str = "frame_critic") -> Tensor:
    """The generator's Wasserstein loss against the per-frame critic ``ctx.modules[name]`` on ``frames``
    random frames per generated clip ``[B, C, T, H, W]``: the critic frozen (its backward computes no weight
    gradients), the pass in the context's autocast, the loss in fp32."""
    from vidsynth.nn import frozen
    from vidsynth.nn.losses import wasserstein_generator_loss
    from vidsynth.nn.video_gan import pick_frames

    picked, _ = pick_frames(fake, frames)
    with frozen(ctx.unwrap(name)) as critic, ctx.autocast():
        scores = critic(picked)
    return wasserstein_generator_loss(scores.float())

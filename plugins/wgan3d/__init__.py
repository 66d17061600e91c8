"""``wgan3d`` and ``wgan3d-cond``: the 3D-convolutional Wasserstein GAN of (Re)Live Photos.

Tasks: ``wgan3d`` is ``unconditional`` (noise -> video); ``wgan3d-cond`` is ``first-frame`` (noise + the
middle or first frame -> the video around it; ``--condition``).
Paper: M. Chen, S. G. Kang, S. Kim, "(Re)Live Photos: Generating Videos with Neural Networks", Stanford
CS231n poster; the gaps filled from github.com/bernhard2202/improved-video-gan.

The presets, how the poster's numbers are read, every departure and why, and measured results:
docs/models/wgan3d.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import vidsynth
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task
from vidsynth.nn.frame_critic import check_frame_critic, frame_critic_modules

CITATION = "Chen, Kang, Kim: (Re)Live Photos: Generating Videos with Neural Networks (Stanford CS231n poster)"


@dataclass
class WGAN3DConfig(ModelConfig):
    frames: int = 32
    size: int = 64
    channels: int = 3
    batch_size: int = 64
    steps: int = 100_000
    z_dim: int = 100  # noise z ~ N(0, I)
    latent_channels: int = 512  # the latent video: latent_channels x latent_frames x latent_size^2
    latent_frames: int = 2
    latent_size: int = 4
    g_widths: tuple[int, ...] = (256, 128, 64)  # hidden up-layers; one more maps to `channels`
    g_norm: Literal["batch", "layer", "frame", "pixel", "none"] = "batch"
    g_upsample: Literal["transposed", "resize"] = "transposed"  # up-layers: the papers' transposed 3D convs, or resize + conv
    # conv3d: the paper's 3D up-layers make all frames at once; recurrent: a ConvLSTM steps the latent map
    # (latent_channels x latent_size^2) once per frame and up-layers decode each step (latent_frames unused)
    generator: Literal["conv3d", "recurrent"] = "conv3d"
    lstm_channels: int = 32  # recurrent generator only
    lstm_layers: int = 3
    lstm_kernel: int = 3
    d_widths: tuple[int, ...] = (64, 128, 256, 512)  # critic blocks; one more conv gives the score map
    d_norm: Literal["batch", "layer", "none"] = "layer"
    loss: Literal["wgan-gp", "wgan-clip"] = "wgan-gp"
    gp_weight: float = 10.0
    clip: float = 0.01  # weight clipping bound (loss = wgan-clip)
    drift_weight: float = 0.0  # weight of E[D(real)^2], keeps the critic's scores near 0
    n_critic: int = 5  # critic updates per generator update
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = 2e-4  # generator
    critic_lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam only
    ema: float = 0.0
    # conditional variant (model wgan3d-cond)
    conditional: bool = False
    condition: Literal["middle", "first"] = "middle"
    encoder_widths: tuple[int, ...] = (64, 128, 256, 512)  # stride-2 convs down to latent_size
    skips: bool = False  # U-Net skips from the frame encoder into the up-layers
    l2_weight: float = 100.0  # the "L2 loss": raw generated frame at the condition vs the given frame
    diversity_weight: float = 0.0  # mode-seeking term (Mao et al. 2019): outputs must depend on z
    # a per-frame critic beside the video critic (DVD-GAN's spatial discriminator); 0 = none (the paper)
    frame_critic_weight: float = 0.0  # weight of its generator loss
    frame_critic_widths: tuple[int, ...] = (32, 64, 128)
    frame_critic_frames: int = 4  # random frames per clip it scores


PAPER: dict[str, Any] = {
    "frames": 32, "size": 64, "channels": 3, "batch_size": 64, "steps": 100_000,
    "z_dim": 100, "latent_channels": 512, "latent_frames": 2, "latent_size": 4,
    "g_widths": (256, 128, 64), "g_norm": "batch", "d_widths": (64, 128, 256, 512),
    "d_norm": "batch", "loss": "wgan-clip", "clip": 0.01, "n_critic": 5,
    "optimizer": "rmsprop", "lr": 5e-5, "critic_lr": 5e-5, "ema": 0.0,
}
PAPER_GP: dict[str, Any] = {
    **PAPER, "d_norm": "layer", "loss": "wgan-gp", "gp_weight": 10.0,
    "optimizer": "adam", "lr": 2e-4, "critic_lr": 2e-4, "betas": (0.5, 0.999),
}
SMALL: dict[str, Any] = {
    "frames": 16, "size": 32, "channels": 1, "batch_size": 16, "steps": 2300, "fps": 10.0,
    "z_dim": 64, "latent_channels": 128, "latent_frames": 2, "latent_size": 4,
    "g_widths": (64, 32), "g_norm": "layer", "d_widths": (32, 64, 128), "d_norm": "layer",
    "loss": "wgan-gp", "gp_weight": 10.0, "drift_weight": 1e-3, "n_critic": 1,
    "optimizer": "adam", "lr": 4e-4, "critic_lr": 8e-4, "betas": (0.5, 0.9), "ema": 0.998,
}
# wgan3d's `small`: the recurrent generator (a ConvLSTM steps a 48 x 4 x 4 noise map once per frame), a
# per-frame critic, the mode-seeking term and twice SMALL's schedule; the 3D up-layers of SMALL let balls
# merge and split (46-56% of frames with the right count against 81 / 89 / 91% on three seeds with these,
# 72-80% at 2,300 steps; docs/models/wgan3d.md, "Measured")
SMALL_RECURRENT: dict[str, Any] = {
    **SMALL, "generator": "recurrent", "latent_channels": 48, "latent_size": 4, "lstm_channels": 48, "lstm_layers": 3,
    "g_widths": (32, 16), "g_norm": "frame", "frame_critic_weight": 1.0, "diversity_weight": 1.0, "steps": 4600,
}
COND = {"conditional": True, "condition": "middle", "encoder_widths": (64, 128, 256, 512), "l2_weight": 100.0}
# wgan3d-cond's `small` (since 2026-12-07): the recurrent generator too, at convlstm `small`'s sizes (a 32 x 8 x 8
# noise map beside the given frame's 8 x 8 code, ConvLSTM 3 x 32, one up-layer), no U-Net skips (they paste the
# balls where they were into every frame), the per-frame critic and the mode-seeking term, twice the old
# schedule: 82 / 90 / 83% of frames with the right count (seeds 0 / 1 / 2) against 59% for the 3D generator with skips
# (docs/models/wgan3d.md, "Measured")
SMALL_COND = {**SMALL_RECURRENT, "conditional": True, "condition": "first", "encoder_widths": (32, 64), "skips": False,
              "latent_channels": 32, "latent_size": 8, "lstm_channels": 32, "g_widths": (32,), "steps": 3400}


class WGAN3D(ModelPlugin[WGAN3DConfig]):
    """Unconditional 3D-conv WGAN: noise -> video."""

    name = "wgan3d"
    task = Task.UNCONDITIONAL
    Config = WGAN3DConfig
    presets = {"paper": PAPER, "paper-gp": PAPER_GP, "small": SMALL_RECURRENT}
    default_preset = "small"
    description = "Wasserstein GAN with a 3D-conv critic (noise -> video): 3D-conv or recurrent generator, WGAN-GP or weight clipping"
    paper = CITATION
    ema_modules = ("generator",)

    # -- configuration -------------------------------------------------------------------------
    def check_config(self, config: WGAN3DConfig) -> None:
        super().check_config(config)  # runs at registration: no torch import here (`vidsynth --help` stays fast)
        c = config
        if c.conditional != (self.task is Task.FIRST_FRAME):
            raise ConfigError(
                "wgan3d is the unconditional model; for the conditional one use `wgan3d-cond`"
                if c.conditional
                else "wgan3d-cond is always conditional (conditional = true)"
            )
        for key in ("z_dim", "latent_channels", "latent_frames", "latent_size", "n_critic", "lstm_channels", "lstm_layers"):
            if getattr(c, key) < 1:
                raise ConfigError(f"config key {key!r} must be >= 1, got {getattr(c, key)}")
        if not c.g_widths or not c.d_widths or min(c.g_widths + c.d_widths) < 1:
            raise ConfigError("g_widths and d_widths need at least one positive width each")
        up = len(c.g_widths) + 1
        if c.size != c.latent_size * 2**up:
            raise ConfigError(
                f"size {c.size} does not fit the generator: {up} up-layers double latent_size {c.latent_size} to"
                f" {c.latent_size * 2**up}; change size, latent_size or the number of g_widths"
            )
        if c.lstm_kernel < 1 or c.lstm_kernel % 2 == 0:
            raise ConfigError(f"lstm_kernel must be odd and >= 1 (the state keeps its size), got {c.lstm_kernel}")
        t_up = next((k for k in range(up + 1) if c.latent_frames * 2**k == c.frames), None)
        if c.generator == "recurrent" and c.frames < 2:
            raise ConfigError(f"frames must be >= 2, got {c.frames}")
        if t_up is None and c.generator == "conv3d":
            raise ConfigError(
                f"frames {c.frames} must be latent_frames ({c.latent_frames}) times 2^k with k <= {up} (up-layers)"
            )
        if c.size < 2 ** (len(c.d_widths) + 1):
            raise ConfigError(f"size {c.size} is too small for a critic of {len(c.d_widths) + 1} stride-2 convolutions")
        if c.loss == "wgan-gp" and c.d_norm == "batch":
            raise ConfigError("the gradient penalty is per sample: use d_norm = layer or none with loss = wgan-gp")
        if c.conditional and len(c.encoder_widths) != up:
            raise ConfigError(
                f"encoder_widths needs {up} entries (one stride-2 conv per generator up-layer), got {len(c.encoder_widths)}"
            )
        if c.gp_weight < 0 or c.clip <= 0 or c.drift_weight < 0 or c.l2_weight < 0 or c.diversity_weight < 0:
            raise ConfigError("gp_weight, drift_weight, l2_weight and diversity_weight must be >= 0 and clip > 0")
        check_frame_critic(c)

    # -- the hooks -----------------------------------------------------------------------------
    def build(self, config: WGAN3DConfig) -> dict[str, Any]:
        from vidsynth_plugins.wgan3d.networks import Critic, Generator

        return {"generator": Generator(config), "critic": Critic(config), **frame_critic_modules(config)}

    def optimizers(self, modules: dict[str, Any], config: WGAN3DConfig) -> dict[str, Any]:
        """RMSprop for weight clipping (momentum-based optimizers destabilise it, Arjovsky et al. 2017), else Adam."""
        import torch

        from vidsynth.model import adam

        lrs = {name: config.critic_lr if "critic" in name else config.lr for name in modules}
        if config.optimizer == "rmsprop":
            return {n: torch.optim.RMSprop(modules[n].parameters(), lr=lr) for n, lr in lrs.items()}
        return {n: adam(modules[n].parameters(), lr=lr, betas=tuple(config.betas)) for n, lr in lrs.items()}

    def condition_from(self, video: Any, config: WGAN3DConfig) -> Any:
        if not config.conditional:
            return None
        from vidsynth_plugins.wgan3d.networks import condition_index

        i = condition_index(video.shape[2], config.condition)
        return video[:, :, i : i + 1]

    def given_frames(self, config: WGAN3DConfig, frames: int) -> tuple[int, ...] | None:
        if not config.conditional:
            return None
        from vidsynth_plugins.wgan3d.networks import condition_index

        return (condition_index(frames, config.condition),)

    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        """One critic update; on every ``n_critic``-th step also one generator update."""
        import torch
        import torch.nn.functional as F

        from vidsynth.nn import frozen
        from vidsynth.nn.losses import wasserstein_generator_loss
        from vidsynth.nn.wgan import frame_critic_update, frame_generator_loss, wasserstein_critic_update
        from vidsynth_plugins.wgan3d.networks import condition_index, paste_frame

        c = ctx.config
        G = ctx.modules["generator"]
        frame = self.condition_from(video, c)
        b = video.shape[0]

        with torch.no_grad(), ctx.autocast():
            fake = G(torch.randn(b, c.z_dim, device=ctx.device), frame)
        gp = c.loss == "wgan-gp"
        losses = wasserstein_critic_update(
            ctx, "critic", video, fake, frame, gp_weight=c.gp_weight if gp else None, drift_weight=c.drift_weight,
            clip=None if gp else c.clip, batched=c.d_norm != "batch",  # one pass on real + fake: same scores
        )
        if c.frame_critic_weight > 0:
            losses |= frame_critic_update(ctx, video, fake, c.frame_critic_frames, c.gp_weight, c.drift_weight)

        if (ctx.step + 1) % c.n_critic == 0:
            i = condition_index(c.frames, c.condition)
            z = torch.randn(b, c.z_dim, device=ctx.device)
            diverse = c.diversity_weight > 0
            # A generator without batch norm makes each sample on its own: the mode-seeking term's second
            # noise (drawn next, as mode_seeking_term would) then goes through in the same pass.
            paired = diverse and c.g_norm != "batch"
            z2 = torch.randn_like(z) if paired else None
            # The critic's weights get no gradient from this loss: frozen, its backward computes none.
            with frozen(ctx.unwrap("critic")) as critic, ctx.autocast():
                if paired:
                    both = None if frame is None else torch.cat([frame, frame])
                    raw, other = G(torch.cat([z, z2]), both, paste=False).chunk(2)
                else:
                    raw = G(z, frame, paste=False)
                fake = raw if frame is None else paste_frame(raw, frame, i)
                g_loss = wasserstein_generator_loss(critic(fake, frame).float())
            losses["generator"] = g_loss.item()
            if c.frame_critic_weight > 0:
                f_loss = frame_generator_loss(ctx, fake, c.frame_critic_frames)
                g_loss = g_loss + c.frame_critic_weight * f_loss
                losses["frame_generator"] = f_loss.item()
            if frame is not None:
                # Scale: the critic's input gradient has norm ~1 over all N = C*T*H*W pixels (~1/sqrt(N) each);
                # the MSE over one frame gives 2*err/(C*H*W) per pixel, comparable at l2_weight ~ 40-100.
                l2 = F.mse_loss(raw[:, :, i : i + 1].float(), frame)
                g_loss = g_loss + c.l2_weight * l2
                losses["l2"] = l2.item()
            if diverse:
                from vidsynth.nn.losses import mode_seeking_loss, mode_seeking_term

                if paired:
                    ms = mode_seeking_loss(raw.float(), other.float(), z, z2)
                else:
                    ms = mode_seeking_term(lambda z2: G(z2, frame, paste=False), raw, z, ctx.autocast)
                g_loss = g_loss + c.diversity_weight * ms
                losses["mode_seeking"] = ms.item()
            ctx.optimize("generator", g_loss)
        return losses

    def sample(self, modules: dict[str, Any], config: WGAN3DConfig, condition: Any, n: int, generator: Any,
               frames: int | None = None, mean: bool = False, **options: Any) -> Any:
        from vidsynth.generate import sample_noise

        if frames is not None and frames != config.frames and config.generator == "conv3d":
            raise VidsynthError(
                f"{self.name} generates exactly {config.frames} frames (its 3D convolutions fix the length);"
                f" leave out --frames or train with --set frames={frames}"
            )
        if frames is not None and frames < 2:
            raise VidsynthError(f"a video needs at least 2 frames, got --frames {frames}")
        z = sample_noise((n, config.z_dim), generator, mean=mean)
        frame = condition if config.conditional else None
        return modules["generator"](z, frame, frames=frames).clamp(-1, 1)


class WGAN3DConditional(WGAN3D):
    """Conditional 3D-conv WGAN: noise + one frame (middle or first) -> video."""

    name = "wgan3d-cond"
    task = Task.FIRST_FRAME
    presets = {"paper": {**PAPER, **COND}, "paper-gp": {**PAPER_GP, **COND}, "small": SMALL_COND}
    description = "The same Wasserstein GAN conditioned on one frame (middle or first) -> video around it"


@vidsynth.hookimpl
def register_models(register):
    register(WGAN3D())
    register(WGAN3DConditional())

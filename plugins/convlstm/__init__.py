"""``convlstm``: one image + noise -> video, with a ConvLSTM generator and a 3D-conv WGAN-GP critic.

Task ``first-frame``: the given image is frame 0 of the output, the recurrence makes the rest (any length).
Paper: Lei Zhang, "GAN-based Photo Video Synthesis", CS 297 report, San José State University 2019,
deliverable 4 (section V, "Add LSTM to 3D CNNs").

The presets, the choices the report leaves open, every departure and why, and measured results:
docs/models/convlstm.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import vidsynth
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task
from vidsynth.nn.frame_critic import check_frame_critic, frame_critic_modules

CITATION = "Zhang: GAN-based Photo Video Synthesis (CS 297 report, SJSU 2019), deliverable 4"


@dataclass
class ConvLSTMConfig(ModelConfig):
    frames: int = 16
    size: int = 128
    channels: int = 3
    batch_size: int = 16
    steps: int = 100_000
    z_dim: int = 100
    encoder_widths: tuple[int, ...] = (64, 128, 256, 256)  # stride-2 convs: size -> size / 2^len
    code_channels: int = 256  # the image code map fed to the ConvLSTM
    noise_channels: int = 64  # the noise, mapped to a map of the same size
    lstm_channels: int = 128
    lstm_layers: int = 5
    lstm_kernel: int = 3
    decoder_widths: tuple[int, ...] = (128, 64, 32)  # hidden up-layers; one more maps to `channels`
    skips: bool = False
    g_norm: Literal["batch", "layer", "frame", "pixel", "none"] = "batch"
    d_widths: tuple[int, ...] = (64, 128, 256, 512)  # critic blocks; one more conv gives the score map
    d_norm: Literal["layer", "none"] = "layer"
    gp_weight: float = 10.0
    drift_weight: float = 0.0
    n_critic: int = 5
    rec_weight: float = 0.0  # L1 between generated and real future frames
    diversity_weight: float = 0.0  # mode-seeking term (Mao et al. 2019): outputs must depend on the noise
    # a per-frame critic beside the video critic (DVD-GAN's spatial discriminator); 0 = none (the paper)
    frame_critic_weight: float = 0.0  # weight of its generator loss
    frame_critic_widths: tuple[int, ...] = (32, 64, 128)
    frame_critic_frames: int = 4  # random frames per clip it scores
    critic_lr: float = 2e-4
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    ema: float = 0.0


PAPER: dict[str, Any] = {}  # the defaults above are the paper preset
SMALL: dict[str, Any] = {
    "frames": 16, "size": 32, "channels": 1, "batch_size": 16, "steps": 2400, "fps": 10.0,
    "z_dim": 32, "encoder_widths": (32, 64), "code_channels": 32, "noise_channels": 8,
    "lstm_channels": 32, "lstm_layers": 3, "decoder_widths": (32,), "skips": False, "g_norm": "frame",
    "d_widths": (32, 64, 128), "drift_weight": 1e-3, "n_critic": 1, "rec_weight": 10.0,
    "lr": 4e-4, "critic_lr": 8e-4, "betas": (0.5, 0.9), "ema": 0.998, "diversity_weight": 1.0,
    "frame_critic_weight": 1.0,  # a per-frame critic on 4 random generated frames per clip
}


class ConvLSTMGAN(ModelPlugin[ConvLSTMConfig]):
    name = "convlstm"
    task = Task.FIRST_FRAME
    Config = ConvLSTMConfig
    presets = {"paper": PAPER, "small": SMALL}
    default_preset = "small"
    description = "ConvLSTM generator (image + noise -> video) with a 3D-conv WGAN-GP critic (Zhang 2019)"
    paper = CITATION
    ema_modules = ("generator",)

    def check_config(self, config: ConvLSTMConfig) -> None:
        super().check_config(config)
        c = config
        for key in ("z_dim", "code_channels", "noise_channels", "lstm_channels", "lstm_layers", "n_critic"):
            if getattr(c, key) < 1:
                raise ConfigError(f"config key {key!r} must be >= 1, got {getattr(c, key)}")
        if c.frames < 2:
            raise ConfigError(f"convlstm makes the frames after the given one: frames must be >= 2, got {c.frames}")
        if c.lstm_kernel % 2 != 1:
            raise ConfigError(f"lstm_kernel must be odd, got {c.lstm_kernel}")
        down = len(c.encoder_widths)
        if not c.encoder_widths or c.size % 2**down or c.size // 2**down < 1:
            raise ConfigError(f"size {c.size} must be divisible by 2^{down} (one halving per encoder width)")
        if len(c.decoder_widths) + 1 != down:
            raise ConfigError(
                f"decoder_widths needs {down - 1} entries: the decoder's {down} up-layers undo the encoder's {down} halvings"
            )
        if not c.d_widths or c.size < 2 ** (len(c.d_widths) + 1):
            raise ConfigError(f"size {c.size} is too small for a critic of {len(c.d_widths) + 1} stride-2 convolutions")
        if c.gp_weight < 0 or c.drift_weight < 0 or c.rec_weight < 0 or c.diversity_weight < 0:
            raise ConfigError("gp_weight, drift_weight, rec_weight and diversity_weight must be >= 0")
        check_frame_critic(c)

    def build(self, config: ConvLSTMConfig) -> dict[str, Any]:
        from vidsynth_plugins.convlstm.networks import Critic, Generator

        return {"generator": Generator(config), "critic": Critic(config), **frame_critic_modules(config)}

    def optimizers(self, modules: dict[str, Any], config: ConvLSTMConfig) -> dict[str, Any]:
        from vidsynth.model import adam

        lrs = {name: config.critic_lr if "critic" in name else config.lr for name in modules}
        return {n: adam(modules[n].parameters(), lr=lr, betas=tuple(config.betas)) for n, lr in lrs.items()}

    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        """One critic update; on every ``n_critic``-th step also one generator update."""
        import torch
        import torch.nn.functional as F

        from vidsynth.nn import frozen
        from vidsynth.nn.losses import wasserstein_generator_loss
        from vidsynth.nn.wgan import frame_critic_update, frame_generator_loss, wasserstein_critic_update

        c = ctx.config
        G = ctx.modules["generator"]
        b, t = video.shape[0], video.shape[2]
        frame = video[:, :, :1]

        with torch.no_grad(), ctx.autocast():
            fake = G(frame, torch.randn(b, c.z_dim, device=ctx.device), t)
        # the critic has no batch norm (d_norm is layer or none): real and fake are scored in one pass
        losses = wasserstein_critic_update(
            ctx, "critic", video, fake, gp_weight=c.gp_weight, drift_weight=c.drift_weight, batched=True
        )
        if c.frame_critic_weight > 0:  # the given frame 0 is real on both sides: the frame critic sees the rest
            losses |= frame_critic_update(
                ctx, video[:, :, 1:], fake[:, :, 1:], c.frame_critic_frames, c.gp_weight, c.drift_weight
            )

        if (ctx.step + 1) % c.n_critic == 0:
            z = torch.randn(b, c.z_dim, device=ctx.device)
            diverse = c.diversity_weight > 0
            # A generator without batch norm makes each sample on its own: the mode-seeking term's second
            # noise (drawn next, as mode_seeking_term would) then goes through in the same pass.
            paired = diverse and c.g_norm != "batch"
            z2 = torch.randn_like(z) if paired else None
            # The critic's weights get no gradient from this loss: frozen, its backward computes none.
            with frozen(ctx.unwrap("critic")) as critic, ctx.autocast():
                if paired:
                    fake, other = G(torch.cat([frame, frame]), torch.cat([z, z2]), t).chunk(2)
                else:
                    fake = G(frame, z, t)
                g_loss = wasserstein_generator_loss(critic(fake).float())
            losses["generator"] = g_loss.item()
            if c.frame_critic_weight > 0:
                f_loss = frame_generator_loss(ctx, fake[:, :, 1:], c.frame_critic_frames)
                g_loss = g_loss + c.frame_critic_weight * f_loss
                losses["frame_generator"] = f_loss.item()
            if diverse:
                from vidsynth.nn.losses import mode_seeking_loss, mode_seeking_term

                if paired:
                    ms = mode_seeking_loss(fake[:, :, 1:].float(), other[:, :, 1:].float(), z, z2)
                else:
                    ms = mode_seeking_term(lambda z2: G(frame, z2, t), fake, z, ctx.autocast, skip_frames=1)
                g_loss = g_loss + c.diversity_weight * ms
                losses["mode_seeking"] = ms.item()
            if c.rec_weight > 0:
                # Scale: the critic's input gradient has norm ~1 over all N pixels, ~1/sqrt(N) each; the mean
                # L1 gives rec_weight/N per pixel, so the two match at rec_weight ~ sqrt(N) (~120 at 15x32x32).
                rec = F.l1_loss(fake[:, :, 1:].float(), video[:, :, 1:])
                g_loss = g_loss + c.rec_weight * rec
                losses["l1"] = rec.item()
            ctx.optimize("generator", g_loss)
        return losses

    def sample(self, modules: dict[str, Any], config: ConvLSTMConfig, condition: Any, n: int, generator: Any,
               frames: int | None = None, mean: bool = False, **options: Any) -> Any:
        from vidsynth.generate import sample_noise

        frames = config.frames if frames is None else frames
        if frames < 2:
            raise VidsynthError(f"convlstm makes at least 2 frames (the given one and one more), not {frames}")
        z = sample_noise((n, config.z_dim), generator, mean=mean)
        return modules["generator"](condition, z, frames).clamp(-1, 1)


@vidsynth.hookimpl
def register_models(register):
    register(ConvLSTMGAN())

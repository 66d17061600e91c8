"""convlstm: one image + noise -> video, with a ConvLSTM generator and a 3D-conv critic (seed 002, deliverable 4).

Seed 002: Lei Zhang, "GAN-based Photo Video Synthesis", CS297 report, San José State University, 2019,
section V "Add LSTM to 3D CNNs". What it states: the model has two inputs, a noise vector and an image,
combined in the generator; the generator has "5 convolutional LSTM layers to extend the temporal features
of [the] input shape to 16 frames", then "3D transposed convolutions to upscale the spatial features", and
outputs 16 frames of 128x128; the discriminator is a 3D CNN of five layers. Nothing else (widths, losses,
optimizer) is given; deliverable 2 of the same report used 4x4x4 stride-2 3D convolutions and leaky ReLU.

What ``paper`` follows exactly: 16 frames of 128x128 RGB; image + noise in; 5 ConvLSTM layers unrolled in
time; 3D transposed convolutions upscaling space; a critic of five 4x4x4 stride-2 3D convolutions
(64-128-256-512 channels, then one to a score map; a linear layer reads it), leaky ReLU.

Choices the report leaves open (all presets), and why:

* How image and noise are combined: a 2D encoder (four 4x4 stride-2 convs, 128 -> 8) gives a code map; the
  noise z ~ N(0, I) in R^100 is mapped by a linear layer to a map of the same size; they are concatenated
  and fed to the first ConvLSTM layer at every step. The ConvLSTM has 128 channels per layer, 3x3 kernels.
  The decoder: four transposed 3D convs (kernel 3x4x4, stride 1x2x2: 8 -> 128; 128-64-32-C channels) with
  batch norm + ReLU and a tanh output, like wgan3d's generator.
* The first frame: the given image *is* frame 0 of the output (it is prepended), and the recurrence makes
  frames 1..T-1. A first-frame model must start from the photo, and this makes it exact by construction.
* Loss: WGAN-GP (Gulrajani et al. 2017; penalty 10 on per-sample gradient norms, LayerNorm instead of
  batch norm in the critic, Adam 2e-4 (0.5, 0.999), 5 critic updates per generator update as in
  improved-video-gan). The report does not name its loss; WGAN-GP is the loss of its sibling model in
  this project (wgan3d) and trains 3D-conv critics stably.

Departures, in ``small`` only (documented because they change what is learned):

* an L1 term between the generated and the real future frames (``rec_weight`` 10): it anchors early
  training on the real continuation; kept small, because one frame does not fix the balls' velocities and
  a strong L1 term would average the possible futures into blur (at weight ~120 it would match the
  adversarial gradient per pixel: see ``train_step``);
* U-Net skips from the frame encoder into the decoder (``skips``), so the photo's appearance need not pass
  through the recurrence;
* a mode-seeking term (``diversity_weight`` 1; Mao et al., "Mode Seeking GANs", CVPR 2019): the L1 term
  pulls every sample towards the one true future, and without this term the generator learned to ignore
  its noise (16 samples from one frame were identical: their mean scored the same PSNR as one sample).
  Measured with the full ``small`` schedule on bouncing balls (benchmarks/RESULTS.md): with it, the balls
  stay round and move in different directions per seed, motion coherence 0.86 vs 0.54 without (real
  0.85), speed 0.79x real vs 1.45x, one frame ahead 17.3 vs 15.8 dB (copying the frame: 18.8), and the
  mean of 16 samples beats copying the frame from two frames ahead on. It costs a second generator pass
  per generator update;
* 3 ConvLSTM layers of 32 channels at 8x8, 16 frames of 32x32 grayscale, LayerNorm of each frame in the
  generator's convolutions (``g_norm = "frame"``: per sample, so the EMA weights need no batch statistics,
  and per frame, so the recurrence stays causal and ``--frames 32`` starts like ``--frames 16``), one critic
  update per generator update with critic/generator learning rates 8e-4/4e-4, batch 16, EMA 0.998 for
  sampling: the settings that trained fastest for wgan3d's ``small`` (see its docstring); ``steps`` 1200
  (0.702 s/step measured with 2 threads at load ~1.3 before the mode-seeking term; the recurrence makes
  a step about twice wgan3d's). With the term, the whole schedule took 29.6 minutes with one thread at a
  load of ~3 (benchmarks/RESULTS.md).

``steps`` counts critic updates (one batch each); the generator is updated on every ``n_critic``-th step.
``vidsynth sample convlstm --in photo.png --frames 32`` unrolls the ConvLSTM further than it was trained.

Short runs (2 minutes, shared 2-core CPU; before the mode-seeking term): on a 16x16, 8-frame version of ``small`` (516 steps) the balls of
the given frame keep their shape and move (motion coherence 0.77 live / 0.87 EMA vs 0.81 on real clips,
speed 0.020 vs 0.028 frame widths per frame), with PSNR still below copying the first frame (e.g. 16.4 vs
18.8 dB one frame ahead). Quality runs of the full preset: benchmarks/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import vidsynth
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task

SEED = "002 (deliverable 4): Lei Zhang, GAN-based Photo Video Synthesis, CS297 report, SJSU, 2019"


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
    critic_lr: float = 2e-4
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    ema: float = 0.0


PAPER: dict[str, Any] = {}  # the defaults above are the paper preset
SMALL: dict[str, Any] = {
    "frames": 16, "size": 32, "channels": 1, "batch_size": 16, "steps": 1200, "fps": 10.0,
    "z_dim": 32, "encoder_widths": (32, 64), "code_channels": 32, "noise_channels": 8,
    "lstm_channels": 32, "lstm_layers": 3, "decoder_widths": (32,), "skips": True, "g_norm": "frame",
    "d_widths": (32, 64, 128), "drift_weight": 1e-3, "n_critic": 1, "rec_weight": 10.0,
    "lr": 4e-4, "critic_lr": 8e-4, "betas": (0.5, 0.9), "ema": 0.998, "diversity_weight": 1.0,
}


class ConvLSTMGAN(ModelPlugin[ConvLSTMConfig]):
    name = "convlstm"
    task = Task.FIRST_FRAME
    Config = ConvLSTMConfig
    presets = {"paper": PAPER, "small": SMALL}
    default_preset = "small"
    description = "ConvLSTM generator (image + noise -> video) with a 3D-conv WGAN-GP critic"
    paper = SEED
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

    def build(self, config: ConvLSTMConfig) -> dict[str, Any]:
        from vidsynth_plugins.convlstm.networks import Critic, Generator

        return {"generator": Generator(config), "critic": Critic(config)}

    def optimizers(self, modules: dict[str, Any], config: ConvLSTMConfig) -> dict[str, Any]:
        import torch

        lrs = {"generator": config.lr, "critic": config.critic_lr}
        return {n: torch.optim.Adam(modules[n].parameters(), lr=lr, betas=tuple(config.betas)) for n, lr in lrs.items()}

    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        """One critic update; on every ``n_critic``-th step also one generator update."""
        import torch
        import torch.nn.functional as F

        from vidsynth.nn.losses import (
            drift_penalty,
            gradient_penalty,
            interpolate,
            wasserstein_critic_loss,
            wasserstein_generator_loss,
        )

        c = ctx.config
        G, D = ctx.modules["generator"], ctx.modules["critic"]
        b, t = video.shape[0], video.shape[2]
        frame = video[:, :, :1]

        with torch.no_grad(), ctx.autocast():
            fake = G(frame, torch.randn(b, c.z_dim, device=ctx.device), t)
        with ctx.autocast():
            real_scores, fake_scores = D(video), D(fake)
        w_loss = wasserstein_critic_loss(real_scores.float(), fake_scores.float())
        bare = ctx.unwrap("critic")  # fp32, no DDP wrapper for the double backward (see wgan3d)
        penalty = gradient_penalty(bare, interpolate(video, fake.float()))
        loss = w_loss + c.gp_weight * penalty
        if c.drift_weight > 0:
            loss = loss + c.drift_weight * drift_penalty(real_scores)
        ctx.optimize("critic", loss)
        losses = {"wasserstein": -w_loss.item(), "gp": penalty.item(), "critic": loss.item()}

        if (ctx.step + 1) % c.n_critic == 0:
            z = torch.randn(b, c.z_dim, device=ctx.device)
            with ctx.autocast():
                fake = G(frame, z, t)
                g_loss = wasserstein_generator_loss(D(fake).float())
            losses["generator"] = g_loss.item()
            if c.diversity_weight > 0:
                from vidsynth.nn.losses import mode_seeking_term

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

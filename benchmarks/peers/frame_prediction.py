"""wgan3d's ``paper-gp`` preset against talcron/frame-prediction-pytorch (a PyTorch port of
improved-video-gan: ``model/improved_video_gan.py`` for the networks, ``runner.py`` for the training step).

Both sides are the same model: noise (100) -> linear -> 512x2x4x4 -> four stride-2 transposed 3D convs with
batch norm -> 3x32x64x64, and a critic of five stride-2 3D convs with layer norm + a linear score, trained
as WGAN-GP (penalty weight 10, one uniform alpha per sample) with Adam(2e-4, betas 0.5 / 0.999), 5 critic
updates per generator update. One "step" here is one such round on a batch of 8 clips: the reference's
``ImprovedVideoGAN.optimize(batch, "discriminator")`` five times, then ``optimize(batch, "generator")``
(how its ``train()`` alternates them), against five calls of vidsynth's ``train_step`` (the fifth also
updates the generator). Known differences of the reference, measured as it is: its critic step
also builds the generator's graph (its ``requires_grad = False`` is a plain attribute), its layer norms
have one affine weight per element (``nn.LayerNorm([C, T, H, W])``: more parameters, same work) and its
optimiser is AdamW with weight decay 0 (the same update as Adam).

The reference's ``runner.py`` imports torchvision (only to save GIFs) and logs to a Comet experiment: the
adapter gives it an empty torchvision stand-in and a no-op experiment, runs it on the CPU (its
``DataParallel`` passes through there) and discards what it prints every step.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from peers import Peer, vidsynth_step

N_CRITIC = 5
BATCH = 8
_THEIR_MODULES = ("runner", "model", "model.improved_video_gan", "utils", "utils.functional", "utils.matrix_sqrt",
                  "torchvision", "torchvision.utils")


class _NoExperiment:
    """Comet's ``Experiment`` as far as the training step calls it: every log is dropped."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def _their_modules(path: Path):
    """Import from the checkout with its top-level names (``runner``, ``model``, ``utils``), then put back
    whatever other modules of those names were loaded before, so no other adapter sees them."""
    saved = {name: sys.modules.pop(name) for name in _THEIR_MODULES if name in sys.modules}
    if "torchvision" not in saved:
        try:
            import torchvision  # noqa: F401
        except ImportError:  # only used to write GIFs, which the step never does
            stand_in = types.ModuleType("torchvision")
            stand_in.utils = types.ModuleType("torchvision.utils")
            sys.modules["torchvision"], sys.modules["torchvision.utils"] = stand_in, stand_in.utils
    sys.path.insert(0, str(path))
    try:
        yield
    finally:
        sys.path.remove(str(path))
        for name in _THEIR_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def build(path: Path | None):
    import torch

    with _their_modules(path):
        import runner

        out_dir = tempfile.mkdtemp(prefix="frame-prediction-")
        gan = runner.ImprovedVideoGAN(
            dataloader=None, experiment=_NoExperiment(), device=torch.device("cpu"), batch_size=BATCH,
            num_frames=32, crop_size=64, learning_rate=2e-4, z_dim=100, beta1=0.5, critic_iterations=N_CRITIC,
            out_dir=out_dir,
        )
    batch = torch.rand(BATCH, 3, 32, 64, 64) * 2 - 1

    def ref_step() -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints both costs every update
            for _ in range(N_CRITIC):
                gan.optimize(batch, runner.DISCRIMINATOR)
            gan.optimize(batch, runner.GENERATOR)

    one_step, info = vidsynth_step("wgan3d", "paper-gp", {"batch_size": BATCH})
    assert info["config"].n_critic == N_CRITIC

    def ours_step() -> None:
        for _ in range(N_CRITIC):  # steps 5k .. 5k+4: the last one also updates the generator
            one_step()

    ref_params = sum(p.numel() for m in (gan.generator, gan.discriminator) for p in m.parameters())
    return ref_step, ours_step, {
        "ref_params": ref_params, "ours_params": info["ours_params"],
        "shape": f"batch {BATCH}, 3x32x64x64, z 100, {N_CRITIC} critic + 1 generator updates, WGAN-GP",
    }


PEER = Peer(
    row="wgan3d paper-gp (5 critic + 1 G steps, batch 8)",
    reference="frame-prediction-pytorch",
    repository="talcron/frame-prediction-pytorch",
    commit="1a2fcc56c89ff031c2eba0547c5c898c6f8c3eab",
    build=build,
    note="improved-video-gan in PyTorch: model/improved_video_gan.py + runner.py's optimize(); batch 8, fp32",
)

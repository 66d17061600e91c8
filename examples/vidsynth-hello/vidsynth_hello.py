"""vidsynth-hello: the smallest complete vidsynth plugin (see docs/plugins.md in vidsynth).

It registers
* a model, ``hello-fade``: given a first frame, it learns how frames fade over time (one learnable
  gain per frame, applied to the input image) — tiny, but trained and sampled through the real
  ``vidsynth train`` / ``vidsynth sample`` machinery;
* a dataset, ``builtin:hello-fades``: synthetic clips of random colour squares fading out;
* a command, ``vidsynth hello``.

Torch is imported inside the methods, so loading the plugin keeps ``vidsynth --help`` fast.
"""

from dataclasses import dataclass

import vidsynth
from vidsynth.model import ModelConfig, ModelPlugin, Task
from vidsynth.plugins import DatasetSpec


@dataclass
class HelloConfig(ModelConfig):
    frames: int = 8
    size: int = 16
    batch_size: int = 8
    steps: int = 50
    lr: float = 0.05


class HelloFade(ModelPlugin[HelloConfig]):
    name = "hello-fade"
    task = Task.FIRST_FRAME
    Config = HelloConfig
    presets = {"small": {}, "long": {"frames": 16}}
    description = "Learns a per-frame gain applied to the first frame (an example plugin)."

    def build(self, config):
        import torch

        class Fade(torch.nn.Module):
            def __init__(self, frames):
                super().__init__()
                self.gain = torch.nn.Parameter(torch.ones(frames))

            def forward(self, first):  # first: [B, C, 1, H, W] in [-1, 1]
                unit = (first + 1) / 2
                video = unit * self.gain.clamp(0, 1).view(1, 1, -1, 1, 1)
                return video * 2 - 1

        return {"fade": Fade(config.frames)}

    def train_step(self, ctx, video):
        with ctx.autocast():
            predicted = ctx.modules["fade"](video[:, :, :1])
            loss = (predicted - video).pow(2).mean()
        ctx.optimize("fade", loss)
        return {"mse": loss.item()}

    def sample(self, modules, config, condition, n, generator, frames=None, mean=False, **options):
        return modules["fade"](condition)


def _fading_squares(frames=8, size=16, channels=3, split="train", **_):
    import torch

    class FadingSquares(torch.utils.data.Dataset):
        def __init__(self):
            self.seed = 0 if split == "train" else 10_000

        def __len__(self):
            return 256 if split == "train" else 32

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(self.seed + i)
            colour = torch.randint(64, 256, (channels,), generator=g)
            clip = torch.zeros(frames, size, size, channels, dtype=torch.uint8)
            lo, hi = size // 4, 3 * size // 4
            for t in range(frames):
                clip[t, lo:hi, lo:hi] = (colour * (1 - t / frames)).to(torch.uint8)
            return clip

        def describe(self):
            return {"source": "builtin:hello-fades", "split": split, "clips": len(self)}

    return FadingSquares()


@vidsynth.hookimpl
def register_models(register):
    register(HelloFade())


@vidsynth.hookimpl
def register_datasets(register):
    register(DatasetSpec("hello-fades", _fading_squares, "Colour squares fading to black (example)."))


@vidsynth.hookimpl
def register_commands(app):
    @app.command()
    def hello(name: str = "world"):
        """Say hello (a command added by the vidsynth-hello example plugin)."""
        print(f"hello, {name}, from a vidsynth plugin")

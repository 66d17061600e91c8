"""The files an eval reads (detector weights the user supplies) and writes (the report folder).

Kept apart from the torch-based modules so that the CLI can check its arguments and say what is
missing before it imports torch.
"""

import hashlib
from pathlib import Path

REPORT_FILE = "report.json"
VIDEO_FILE = "comparison.mp4"
CURVES_FILE = "curves.png"

I3D_HELP = (
    "get StyleGAN-V's i3d_torchscript.pt (the TorchScript I3D linked from "
    "github.com/universome/stylegan-v, src/metrics/frechet_video_distance.py) and pass it as --detector FILE"
)
INCEPTION_HELP = (
    "get StyleGAN2-ADA's inception-2015-12-05.pt (linked from github.com/NVlabs/stylegan2-ada-pytorch, "
    "metrics/frechet_inception_distance.py) and pass it as --inception FILE"
)


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file, read in chunks (detector files are ~100 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def torchscript_notice(flag: str, path: str | Path) -> str:
    """The one line eval prints before it loads a TorchScript file: such a file is code that runs."""
    return (f"{flag} {path}: loading TorchScript (sha256 {sha256_of(path)}); TorchScript is code that runs "
            "on this machine, so use only files you trust")

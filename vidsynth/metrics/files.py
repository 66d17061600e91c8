"""The files an eval reads (detector weights the user supplies) and writes (the report folder).

Kept apart from the torch-based modules so that the CLI can check its arguments and say what is
missing before it imports torch.
"""

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

"""The preprocessing defaults the sidecars record.

Facts the Node side needs to preprocess exactly like torchvision's VideoClassification preset and the
reference evaluation (frame_rate=15, clip_len=16). Their one source is cpp/video/preprocessing_defaults.json
(CMake generates the addon's cpp/video/preprocessing_defaults.h from it); check_preprocessing() holds them
against torchvision's preset.
"""

import json
import os

from torchvision.models import video as tv_video

from .common import ARCHS, ExportError

DEFAULTS_JSON = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "cpp", "video", "preprocessing_defaults.json")


def read_defaults(path=DEFAULTS_JSON):
    """The constants of preprocessing_defaults.json by C++ name: {'kClipLength': 16, 'kMean': [...], ...}."""
    with open(path, encoding="utf-8") as f:
        return {constant["name"]: constant["value"] for constant in json.load(f)["constants"]}


_DEFAULTS = read_defaults()
CLIP_LENGTH = int(_DEFAULTS["kClipLength"])
FRAME_RATE = _DEFAULTS["kFrameRate"]
FRAME_RATE = int(FRAME_RATE) if FRAME_RATE == int(FRAME_RATE) else float(FRAME_RATE)
RESIZE_SIZE = [int(_DEFAULTS["kResizeHeight"]), int(_DEFAULTS["kResizeWidth"])]
CROP_SIZE = [int(_DEFAULTS["kCropSize"])] * 2
MEAN = [float(x) for x in _DEFAULTS["kMean"]]
STD = [float(x) for x in _DEFAULTS["kStd"]]
ONNX_SHAPE = (1, 3, CLIP_LENGTH, CROP_SIZE[0], CROP_SIZE[1])

# The sidecar fields that describe preprocessing, in the order fp32 sidecars list them.
PREPROCESSING_KEYS = ("clip_length", "frame_rate", "resize_size", "crop_size", "mean", "std")
DEFAULT_PREPROCESSING = dict(zip(PREPROCESSING_KEYS, (CLIP_LENGTH, FRAME_RATE, RESIZE_SIZE, CROP_SIZE, MEAN, STD)))


def check_preprocessing(arch):
    """The sidecar's sizes and normalisation must be torchvision's own preset for this network."""
    preset = getattr(tv_video, ARCHS[arch][1]).KINETICS400_V1.transforms()
    want = {"resize_size": list(preset.resize_size), "crop_size": list(preset.crop_size),
            "mean": list(preset.mean), "std": list(preset.std)}
    have = {"resize_size": RESIZE_SIZE, "crop_size": CROP_SIZE, "mean": MEAN, "std": STD}
    for key, value in want.items():
        if len(value) != len(have[key]) or any(abs(a - b) > 1e-7 for a, b in zip(value, have[key])):
            raise ExportError(f"{DEFAULTS_JSON}: {key} is {have[key]} but torchvision's "
                              f"{ARCHS[arch][1]} preset has {value}")

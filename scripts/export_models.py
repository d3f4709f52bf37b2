#!/usr/bin/python3
"""Export torchvision's video ResNets to TorchScript (and optionally ONNX) for torchvideo.

Usage:
  /usr/bin/python3 scripts/export_models.py --arch r3d_18|mc3_18|r2plus1d_18|all
      [--weights none|KINETICS400_V1|FILE.pth] [--num-classes N] [--out models/]
      [--seed S] [--onnx] [--opset 14] [--force]
      [--precision fp32|bf16|int8] [--calibrate DATA|random] [--calibration-clips N]
      [--agreement-clips M]
  /usr/bin/python3 scripts/export_models.py --model ft/model.pt --precision bf16|int8
      [--calibrate DATA|random] [--out-file ft/model-int8.pt] ...

Writes <out>/<arch>.pt (torch.jit.script of the eval-mode network), <out>/<arch>.json (the sidecar
that the Node side reads: labels, clip length, sizes, mean/std, ...) and, with --onnx,
<out>/<arch>.onnx. Errors print one line on stderr and exit with code 2.

--precision bf16 or int8 writes <out>/<arch>-bf16.pt / <out>/<arch>-int8.pt and their sidecars
instead (frozen TorchScript that takes float32 clips and returns float32 logits; see
torchvideo_export/low_precision.py). int8 is calibrated on clips: --calibrate DATA reads N clips of a labelled video set
(root/<class>/<video>, CSV or list file) through torchvideo's own decoding and preprocessing (node
scripts/calibration-clips.js); --calibrate random uses random clips (for tests only). The sidecar adds
"precision", "calibration" and "agreement" (with the float32 network, measured on M held-out clips).
--model converts a TorchScript export (a network fine-tuned by torchvideo) instead of --arch, with
the labels and preprocessing of its sidecar.

Run it with Debian's /usr/bin/python3: that is the interpreter that has torch 1.13 and torchvision 0.14.
The code is the package scripts/torchvideo_export/ (its __init__.py lists the modules); this file is
the command line's entry point.
"""

import os
import sys

# python3 scripts/export_models.py puts scripts/ on sys.path already; runpy, or an import from
# elsewhere, may not.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from torchvideo_export.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

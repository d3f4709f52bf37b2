"""The command line of scripts/export_models.py: every flag checked first (argparse's usage error, exit
code 2), then the exports; an export's failure is one line on stderr and exit code 2."""

import argparse
import os
import sys

import torch

from .common import ARCHS, DEFAULT_OPSET, KINETICS_CLASSES, ExportError
from .fp32 import export_arch

PRECISIONS = ("fp32", "bf16", "int8")
DEFAULT_CALIBRATION_CLIPS = 64
DEFAULT_AGREEMENT_CLIPS = 32
INT8_NEEDS_CALIBRATION = "int8 needs calibration clips: --calibrate DATA (or --calibrate random for tests)"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="export_models.py",
        description="Export torchvision video ResNets (r3d_18, mc3_18, r2plus1d_18) to TorchScript "
        "for torchvideo, with a JSON sidecar and optionally an ONNX file.",
    )
    p.add_argument("--arch", choices=sorted(ARCHS) + ["all"],
                   help="network to export, or 'all' (required unless --model is given)")
    p.add_argument("--weights", default="none",
                   help="'none' (random init, default), 'KINETICS400_V1' (torchvision's weights; needs "
                   "network access unless already in the torch hub cache), or a path to a state-dict .pth")
    p.add_argument("--num-classes", type=int, default=None,
                   help="size of the final fc layer (default 400, or inferred from a .pth's fc.weight)")
    p.add_argument("--out", default="models", help="output folder (default: models)")
    p.add_argument("--seed", type=int, default=0,
                   help="torch.manual_seed for random init, so exports are reproducible (default 0)")
    p.add_argument("--onnx", action="store_true", help="also write <out>/<arch>.onnx")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--force", action="store_true", help="export even if the outputs are up to date")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="fp32 (default): <arch>.pt; bf16 or int8: <arch>-bf16.pt / <arch>-int8.pt, frozen "
                   "TorchScript that takes float32 clips and returns float32 logits")
    p.add_argument("--calibrate", metavar="DATA|random",
                   help="clips for int8's calibration and the agreement check: a labelled video set (a folder "
                   "root/<class>/<video>, a CSV or a list file) read through torchvideo's preprocessing, or "
                   "'random' (random clips, for tests). Required for int8; with bf16 it only gives the "
                   "agreement clips (default random)")
    p.add_argument("--calibration-clips", type=int, metavar="N",
                   help=f"int8 calibration clips (default {DEFAULT_CALIBRATION_CLIPS}; bf16 needs none)")
    p.add_argument("--agreement-clips", type=int, default=DEFAULT_AGREEMENT_CLIPS, metavar="M",
                   help="held-out clips (never calibration clips) on which bf16/int8 are compared with "
                   f"float32 for the sidecar's agreement (default {DEFAULT_AGREEMENT_CLIPS})")
    p.add_argument("--model", metavar="PATH",
                   help="convert this TorchScript export (e.g. a network fine-tuned by torchvideo, with its "
                   "sidecar) instead of building --arch; needs --precision bf16 or int8")
    p.add_argument("--out-file", metavar="PATH",
                   help="where a bf16/int8 export goes (its sidecar <name>.json beside it); default "
                   "<out>/<arch>-<precision>.pt, or <model>-<precision>.pt beside --model")
    args = p.parse_args(argv)
    check_precision_args(p, args)

    if args.arch is None and args.model is None:
        p.error("the following arguments are required: --arch (or --model PATH)")
    if args.num_classes is not None and args.num_classes < 1:
        p.error(f"--num-classes must be >= 1, got {args.num_classes}")
    args.weights_kind = weights_kind(args.weights)
    if args.weights_kind == "file":
        if not os.path.isfile(args.weights):
            p.error(f"--weights: no such file: {args.weights} "
                    "(expected 'none', 'KINETICS400_V1' or a path to a .pth state dict)")
        if args.arch == "all":
            # A state dict belongs to one architecture; applying it to all three can only fail.
            p.error("--weights FILE needs a single --arch, not 'all'")
    if args.weights_kind == "kinetics" and args.num_classes not in (None, KINETICS_CLASSES):
        p.error(f"--weights KINETICS400_V1 has {KINETICS_CLASSES} classes; "
                f"--num-classes {args.num_classes} does not match (fine-tune it and pass the .pth instead)")
    return args


def check_precision_args(p, args):
    """The low-precision options fit together, or argparse's usage error (exit code 2) says why."""
    low = args.precision != "fp32"
    if args.model is not None:
        if not low:
            p.error("--model converts an export to --precision bf16 or int8 (a float32 export is already one)")
        if not os.path.isfile(args.model):
            p.error(f"--model: no such file: {args.model}")
        given = [flag for flag, value in (("--weights", args.weights != "none"), ("--num-classes", args.num_classes),
                                          ("--onnx", args.onnx)) if value]
        if given:
            p.error(f"--model takes the network, classes and labels from the export: drop {', '.join(given)}")
    if args.precision == "int8" and args.calibrate is None:
        p.error(INT8_NEEDS_CALIBRATION)
    if not low:
        extra = [flag for flag, value in (("--calibrate", args.calibrate),
                                          ("--calibration-clips", args.calibration_clips),
                                          ("--out-file", args.out_file)) if value is not None]
        if extra:
            p.error(f"{', '.join(extra)} {'needs' if len(extra) == 1 else 'need'} --precision bf16 or int8")
        return
    if args.onnx:
        p.error("--onnx exports float32 only (drop --precision, or --onnx)")
    if args.calibration_clips is None:
        args.calibration_clips = DEFAULT_CALIBRATION_CLIPS
    if args.calibration_clips < 1:
        p.error(f"--calibration-clips must be >= 1, got {args.calibration_clips}")
    if args.agreement_clips < 1:
        p.error(f"--agreement-clips must be >= 1, got {args.agreement_clips}")
    if args.out_file is not None and args.model is None and args.arch in (None, "all"):
        p.error("--out-file names one export: give a single --arch, or --model")
    if args.out_file and args.model and os.path.abspath(args.out_file) == os.path.abspath(args.model):
        p.error("--out-file would overwrite --model: name another file")
    if args.calibrate is not None and args.calibrate != "random" and not os.path.exists(args.calibrate):
        p.error(f"--calibrate: no such dataset: {args.calibrate} (a folder root/<class>/<video>, "
                "a CSV or list file, or 'random')")
    if args.calibrate is None:
        args.calibrate = "random"  # bf16: agreement on random clips unless data is given


def weights_kind(spec):
    if spec.lower() == "none":
        return "none"
    if spec.upper() == "KINETICS400_V1":
        return "kinetics"
    return "file"


def main(argv=None):
    args = parse_args(argv)
    # Debian's torch starts with one intra-op thread; the checks and ONNX tracing run faster on all.
    torch.set_num_threads(os.cpu_count() or 1)
    archs = sorted(ARCHS) if args.arch == "all" else [args.arch]
    try:
        if args.precision == "fp32":
            for arch in archs:
                export_arch(arch, args)
        else:
            # Only here: float32 exports do not load torch.ao and torch.fx.
            from .low_precision_export import export_low_precision

            clip_cache = {}
            for arch in archs:
                export_low_precision(arch, args, clip_cache)
    except (ExportError, OSError) as e:
        print(f"export_models.py: error: {e}", file=sys.stderr)
        return 2
    return 0

"""The clips of a bf16 / int8 export: int8 calibrates on the first --calibration-clips, and every export
is compared with float32 on the --agreement-clips after them. Random clips (--calibrate random), or a
labelled video set read through torchvideo's own decoding and preprocessing (node scripts/calibration-clips.js)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch

from .common import ExportError

CALIBRATION_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "calibration-clips.js")


def random_clips(source, args, count):
    # One stream for calibration and agreement clips: the held-out clips follow the calibration ones,
    # so they are never the same clips.
    generator = torch.Generator().manual_seed(args.seed)
    return torch.randn(count, *source.clip_shape(), generator=generator), ["random"] * count


def data_clips(source, args, count, label):
    """`count` clips of the dataset --calibrate through torchvideo's own decoding, sampling and
    preprocessing (node scripts/calibration-clips.js), so the int8 ranges fit what the network gets
    at run time. Returns the clips and the video each came from."""
    node = shutil.which("node")
    if node is None:
        raise ExportError("--calibrate DATA reads clips with torchvideo (node scripts/calibration-clips.js), "
                          "but node is not on PATH")
    scratch = tempfile.mkdtemp(prefix="torchvideo-calibration-")
    try:
        out = os.path.join(scratch, "clips.bin")
        command = [node, CALIBRATION_SCRIPT, args.calibrate, "--clips", str(count), "--out", out,
                   "--seed", str(args.seed)]
        if source.model_path is not None:
            command += ["--model", source.model_path]  # its sidecar's preprocessing
        print(f"{label}: reading {count} clips of {args.calibrate} through torchvideo's preprocessing: "
              f"node {os.path.relpath(CALIBRATION_SCRIPT)} {' '.join(command[2:])}", file=sys.stderr)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.stderr:
            sys.stderr.write(result.stderr)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            raise ExportError(f"reading clips of {args.calibrate} failed (calibration-clips.js exit "
                              f"{result.returncode}): {lines[-1] if lines else 'no message'}")
        info = json.loads(result.stdout.strip().splitlines()[-1])
        want = [count, *source.clip_shape()]
        if info.get("shape") != want:
            raise ExportError(f"calibration-clips.js wrote clips of shape {info.get('shape')}, expected {want}")
        clips = torch.from_file(out, size=count * 3 * want[2] * want[3] * want[4], dtype=torch.float32)
        return clips.reshape(want).clone(), [clip["video"] for clip in info["clips"]]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def clips_for(source, args, cache, label):
    """(calibration clips, held-out clips, videos of each): int8 calibrates on the first
    --calibration-clips, and every export compares with float32 on the --agreement-clips after them."""
    n_calibration = args.calibration_clips if args.precision == "int8" else 0
    count = n_calibration + args.agreement_clips
    if args.calibrate == "random":
        clips, videos = random_clips(source, args, count)
    else:
        # --arch all: the three networks preprocess alike, so the clips are read once.
        key = (json.dumps(source.preprocessing), source.model_path, count)
        if key not in cache:
            cache[key] = data_clips(source, args, count, label)
        clips, videos = cache[key]
    return clips[:n_calibration], clips[n_calibration:], videos[:n_calibration], videos[n_calibration:]

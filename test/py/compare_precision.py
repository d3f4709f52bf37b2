#!/usr/bin/python3
"""A bf16/int8 export beside the float32 export it came from, in PyTorch: both run on the same float32
clips (random, or raw float32 clips from --clips). Prints one JSON line: the low-precision logits' dtype
and shape, the largest |softmax probability| and |logit| differences, the largest logit difference
relative to the float32 logits' own spread (per clip: max |low - fp32| / (max fp32 - min fp32), the
largest over the clips: random weights give logits that differ little from class to class, so an
absolute bound says nothing), the share of equal top-1 classes, and the largest difference after
freezing and optimizing the export again (what torchvideo's loader does to every model).

Usage: compare_precision.py --low X-int8.pt --fp32 X.pt --shape 2,3,16,112,112 [--seed 0] [--clips F]
"""

import argparse
import json

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--low", required=True)
    p.add_argument("--fp32", required=True)
    p.add_argument("--shape", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clips", help="raw float32 clips of --shape instead of random ones")
    args = p.parse_args()
    torch.set_num_threads(2)
    # int8 exports hold oneDNN-quantized weights; they are repacked at load for the selected engine.
    torch.backends.quantized.engine = "onednn"
    shape = [int(v) for v in args.shape.split(",")]
    if args.clips:
        import numpy as np

        x = torch.from_numpy(np.fromfile(args.clips, dtype="<f4").reshape(shape))
    else:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(args.seed))
    low = torch.jit.load(args.low, map_location="cpu").eval()
    fp32 = torch.jit.load(args.fp32, map_location="cpu").eval()
    with torch.inference_mode():
        got, want = low(x), fp32(x)
        again = torch.jit.optimize_for_inference(torch.jit.freeze(low))(x)
    probs = (got.float().softmax(1) - want.softmax(1)).abs()
    spread = want.amax(1) - want.amin(1)
    relative = (got.float() - want).abs().amax(1) / spread
    print(json.dumps({
        "dtype": str(got.dtype),
        "shape": list(got.shape),
        "maxAbsProbDiff": float(probs.max()),
        "maxAbsLogitDiff": float((got.float() - want).abs().max()),
        "maxRelLogitDiff": float(relative.max()),
        "minLogitSpread": float(spread.min()),
        "top1": float((got.argmax(1) == want.argmax(1)).float().mean()),
        "refrozenMaxDiff": float((again - got).abs().max()),
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch's reference forward pass for torchvideo's tap tests.

Usage:
  /usr/bin/python3 test/py/reference_forward.py --model M.pt --input in.bin --shape 1,3,16,112,112
      --output out.bin [--optimize] [--bf16]

Reads raw little-endian float32 input of --shape, runs the TorchScript module in eval mode under
torch.inference_mode() (with --optimize: torch.jit.optimize_for_inference(torch.jit.freeze(m)),
the path torchvideo itself takes; with --bf16 the module and input are cast to bfloat16 first, as
loadModel(path, { precision: 'bf16' }) does; int8 exports run on the oneDNN quantized engine), writes the raw little-endian float32 output to --output and prints
{"shape": [...]} on stdout. Nothing else goes to stdout, so a test can JSON.parse it.
Errors: one line on stderr, exit code 2.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

LE_FLOAT32 = np.dtype("<f4")


class ForwardError(Exception):
    """A user-facing failure: one line on stderr, exit code 2."""


def parse_shape(text):
    try:
        shape = [int(d) for d in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(f"dimensions must be >= 1, got {text!r}")
    return shape


def parse_args(argv):
    p = argparse.ArgumentParser(prog="reference_forward.py",
                                description="Run a TorchScript module on raw float32 input.")
    p.add_argument("--model", required=True, help="TorchScript file (.pt)")
    p.add_argument("--input", required=True, help="raw little-endian float32 input")
    p.add_argument("--shape", required=True, type=parse_shape, help="input shape, e.g. 1,3,16,112,112")
    p.add_argument("--output", required=True, help="where to write the raw little-endian float32 output")
    p.add_argument("--optimize", action="store_true",
                   help="run torch.jit.optimize_for_inference(torch.jit.freeze(m)) instead of m")
    p.add_argument("--bf16", action="store_true", help="cast the module and the input to bfloat16 first")
    return p.parse_args(argv)


def read_input(path, shape):
    expected = int(np.prod(shape)) * LE_FLOAT32.itemsize
    size = os.path.getsize(path)
    if size != expected:
        raise ForwardError(f"{path} has {size} bytes; shape {shape} of float32 needs {expected}")
    # Explicit '<f4' so the byte order does not depend on the host; copy() makes it writable,
    # which torch.from_numpy wants.
    data = np.fromfile(path, dtype=LE_FLOAT32).astype(np.float32, copy=False).copy()
    return torch.from_numpy(data.reshape(shape))


def load_module(path, optimize, bf16=False):
    module = torch.jit.load(path, map_location="cpu")
    module.eval()
    if bf16:
        module = module.to(torch.bfloat16)
    if optimize:
        # freeze needs eval mode: it folds parameters and batch-norm statistics into constants.
        module = torch.jit.optimize_for_inference(torch.jit.freeze(module))
    return module


def write_output(path, tensor):
    array = tensor.detach().to(torch.float32).contiguous().numpy().astype(LE_FLOAT32, copy=False)
    array.tofile(path)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        x = read_input(args.input, args.shape)
        # int8 exports are quantized for oneDNN (Debian's build has no FBGEMM; QNNPACK has no 3D convolution).
        if "onednn" in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = "onednn"
        module = load_module(args.model, args.optimize, args.bf16)
        if args.bf16:
            x = x.to(torch.bfloat16)
        with torch.inference_mode():
            y = module(x)
        if not isinstance(y, torch.Tensor):
            raise ForwardError(f"{args.model} returned {type(y).__name__}, expected a tensor")
        write_output(args.output, y)
    except ForwardError as e:
        print(f"reference_forward.py: error: {e}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError, ValueError) as e:
        # TorchScript errors carry a multi-line traceback of the scripted code; its last line is the
        # actual message.
        lines = [line for line in str(e).strip().splitlines() if line.strip()]
        print(f"reference_forward.py: error: {lines[-1] if lines else type(e).__name__}", file=sys.stderr)
        return 2
    print(json.dumps({"shape": list(y.shape)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Writing exports: TorchScript, ONNX and the JSON sidecar, each atomically (a half-written file never
appears under its final name), and reading back a sidecar already in place."""

import contextlib
import json
import os
import re
import shutil
import tempfile

import torch

from .common import CHECK_SHAPE, ExportError, one_line
from .defaults import ONNX_SHAPE
from .network import check_close


@contextlib.contextmanager
def atomic_output(final_path):
    """Yield a temporary path in a scratch folder beside final_path and move it into place only once
    it is fully written, so an interrupted export never leaves a half file under the final name.
    The temporary file keeps final_path's base name because torch.jit.save names the archive's
    root folder after it: that keeps the .pt byte-for-byte reproducible."""
    folder = os.path.dirname(final_path) or "."
    scratch = tempfile.mkdtemp(prefix=".export-", dir=folder)
    tmp = os.path.join(scratch, os.path.basename(final_path))
    try:
        yield tmp
        os.replace(tmp, final_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def save_torchscript(model, path):
    scripted = torch.jit.script(model)
    with atomic_output(path) as tmp:
        torch.jit.save(scripted, tmp)


def verify_torchscript(model, path):
    """Reload the saved file (what Node will do) and compare with eager PyTorch."""
    loaded = torch.jit.load(path, map_location="cpu").eval()
    x = torch.randn(*CHECK_SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return check_close(f"reloaded {path}", loaded(x), model(x))


def save_onnx(model, path, opset):
    # Only the batch axis is dynamic: onnxruntime then plans for 16x112x112 clips, which is what the
    # Node side feeds it.
    with atomic_output(path) as tmp:
        try:
            torch.onnx.export(
                model, torch.zeros(*ONNX_SHAPE), tmp,
                input_names=["clip"], output_names=["logits"],
                dynamic_axes={"clip": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset, do_constant_folding=True,
            )
        except Exception as e:
            raise ExportError(f"ONNX export (opset {opset}) failed: {one_line(e)}") from None


def write_json(obj, path):
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")


def existing_sidecar(paths):
    """The sidecar of an export already in place (both files there), or None: then it must be made."""
    if not (os.path.isfile(paths["pt"]) and os.path.isfile(paths["json"])):
        return None
    try:
        with open(paths["json"], encoding="utf-8") as f:
            sidecar = json.load(f)
    except (OSError, ValueError):
        return None
    return sidecar if isinstance(sidecar, dict) else None


def sidecar_path_of(model_path):
    """src/sidecar.ts's sidecarPathOf: <name>.json beside <name>.pt."""
    return re.sub(r"\.(pt|pth|ts|torchscript)$", "", model_path, flags=re.IGNORECASE) + ".json"


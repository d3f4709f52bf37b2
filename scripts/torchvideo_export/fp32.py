"""The float32 export of one arch: <out>/<arch>.pt (torch.jit.script of the eval-mode network), its sidecar
<out>/<arch>.json and, with --onnx, <out>/<arch>.onnx; skipped when an export of the same identity is
already in place."""

import os

import torch
import torchvision

from .common import KINETICS_CLASSES, sha256_of
from .defaults import CLIP_LENGTH, CROP_SIZE, FRAME_RATE, MEAN, RESIZE_SIZE, STD
from .network import labels_for, load_network
from .writer import existing_sidecar, save_onnx, save_torchscript, verify_torchscript, write_json


def identity(arch, args):
    """What decides whether an existing export can be reused. num_classes is None when it comes
    from a .pth's fc layer; the file's sha256 stands in for it then."""
    if args.weights_kind == "none":
        return {"arch": arch, "weights": f"none (random, seed {args.seed})", "seed": args.seed,
                "num_classes": args.num_classes or KINETICS_CLASSES}
    if args.weights_kind == "kinetics":
        return {"arch": arch, "weights": "KINETICS400_V1", "num_classes": KINETICS_CLASSES}
    return {"arch": arch, "weights": args.weights, "weights_sha256": sha256_of(args.weights),
            "num_classes": args.num_classes}


def up_to_date(paths, ident, want_onnx, opset):
    if want_onnx and not os.path.isfile(paths["onnx"]):
        return False
    sidecar = existing_sidecar(paths)
    if sidecar is None:
        return False
    if want_onnx and (not sidecar.get("onnx") or sidecar.get("onnx_opset") != opset):
        return False
    # Exports from before the sidecar recorded the file's checksum are redone.
    if not sidecar.get("sha256"):
        return False
    return all(v is None or sidecar.get(k) == v for k, v in ident.items())


def export_arch(arch, args):
    paths = {ext: os.path.join(args.out, f"{arch}.{ext}") for ext in ("pt", "json", "onnx")}
    ident = identity(arch, args)
    if not args.force and up_to_date(paths, ident, args.onnx, args.opset):
        print(f"{arch}: up to date ({paths['pt']}, weights {ident['weights']}); --force to re-export")
        return

    model, num_classes, n_params = load_network(arch, args)

    os.makedirs(args.out, exist_ok=True)
    # Drop the old sidecar first: if this export dies half-way, no sidecar may vouch for a .pt
    # it does not describe.
    if os.path.exists(paths["json"]):
        os.remove(paths["json"])
    save_torchscript(model, paths["pt"])
    ts_diff = verify_torchscript(model, paths["pt"])
    written = [paths["pt"]]

    if args.onnx:
        save_onnx(model, paths["onnx"], args.opset)
        written.append(paths["onnx"])
    elif os.path.exists(paths["onnx"]):
        # An ONNX file from an earlier export would no longer hold the same weights as the .pt.
        os.remove(paths["onnx"])
        print(f"{arch}: removed stale {paths['onnx']} (re-run with --onnx to rewrite it)")

    sidecar = {
        "arch": arch,
        "num_classes": num_classes,
        "labels": labels_for(arch, num_classes),
        "clip_length": CLIP_LENGTH,
        "frame_rate": FRAME_RATE,
        "resize_size": RESIZE_SIZE,
        "crop_size": CROP_SIZE,
        "mean": MEAN,
        "std": STD,
        "parameters": n_params,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "weights": ident["weights"],
        "seed": args.seed if args.weights_kind == "none" else None,
        "weights_sha256": ident.get("weights_sha256"),
        "onnx": os.path.basename(paths["onnx"]) if args.onnx else None,
        "onnx_opset": args.opset if args.onnx else None,
        # loadModel checks the .pt against this, so a damaged or swapped file is refused.
        "sha256": sha256_of(paths["pt"]),
    }
    # The sidecar goes last: its presence marks a complete export for the up-to-date check.
    write_json(sidecar, paths["json"])
    written.append(paths["json"])
    print(f"{arch}: {n_params:,} parameters, {num_classes} classes, weights {ident['weights']}; "
          f"TorchScript matches eager (max diff {ts_diff:.2g}); wrote {', '.join(written)}")

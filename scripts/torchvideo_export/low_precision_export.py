"""The bf16 / int8 export: <out>/<arch>-bf16.pt / <out>/<arch>-int8.pt (or --out-file, or beside --model)
and its sidecar, made from the float32 network of --arch or of a TorchScript export (--model). Frozen
TorchScript that takes float32 clips and returns float32 logits (low_precision.py); the sidecar adds
"precision", "calibration" and "agreement" (with the float32 network, measured on held-out clips)."""

import json
import os
import re

import torch
import torchvision

from . import low_precision  # only here: fp32 exports do not need torch.ao and torch.fx
from .calibration import clips_for
from .common import ARCHS, CHECK_SHAPE, ExportError, one_line, sha256_of
from .defaults import DEFAULT_PREPROCESSING, PREPROCESSING_KEYS
from .fp32 import identity
from .network import (build_model, check_close, check_state_dict, count_parameters, infer_num_classes,
                      labels_for, load_network)
from .writer import atomic_output, existing_sidecar, sidecar_path_of, write_json


class Source:
    """The float32 network a bf16/int8 export is made from, and what its sidecar carries over."""

    def __init__(self, arch, net, num_classes, labels, preprocessing, parameters, provenance, model_path=None):
        self.arch = arch
        self.net = net
        self.num_classes = num_classes
        self.labels = labels
        self.preprocessing = preprocessing
        self.parameters = parameters
        self.provenance = provenance  # where the weights came from, as sidecar fields
        self.model_path = model_path  # the TorchScript export it came from (--model), if any

    def clip_shape(self):
        p = self.preprocessing
        return (3, int(p["clip_length"]), int(p["crop_size"][0]), int(p["crop_size"][1]))


def low_precision_paths(arch, args):
    if args.out_file is not None:
        pt = args.out_file
    elif args.model is not None:
        pt = re.sub(r"\.(pt|pth|ts|torchscript)$", "", args.model, flags=re.IGNORECASE) + f"-{args.precision}.pt"
    else:
        pt = os.path.join(args.out, f"{arch}-{args.precision}.pt")
    return {"pt": pt, "json": sidecar_path_of(pt)}


def read_model_sidecar(path):
    sidecar_file = sidecar_path_of(path)
    if not os.path.isfile(sidecar_file):
        raise ExportError(f"{path} has no sidecar {sidecar_file}: its arch, labels and preprocessing come from "
                          "there (torchvideo's fineTune and this script write one)")
    try:
        with open(sidecar_file, encoding="utf-8") as f:
            sidecar = json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read {sidecar_file}: {one_line(e)}") from None
    if not isinstance(sidecar, dict):
        raise ExportError(f"{sidecar_file} is not a JSON object")
    if sidecar.get("precision", "fp32") != "fp32":
        raise ExportError(f"{path} is already exported in {sidecar['precision']}: "
                          "convert the float32 export it was made from")
    return sidecar


def low_precision_identity(arch, args):
    """What decides whether an existing bf16/int8 export can be reused (compared with its sidecar;
    nested objects by the keys given here)."""
    if args.model is not None:
        ident = {"source_model": args.model, "source_sha256": sha256_of(args.model)}
    else:
        ident = identity(arch, args)
    ident["precision"] = args.precision
    if args.precision == "int8":
        ident["calibration"] = {"source": args.calibrate, "clips": args.calibration_clips}
    ident["agreement"] = {"source": args.calibrate, "clips": args.agreement_clips}
    return ident


def matches(have, want):
    if isinstance(want, dict):
        return isinstance(have, dict) and all(matches(have.get(k), v) for k, v in want.items())
    return want is None or have == want


def low_precision_up_to_date(paths, ident):
    sidecar = existing_sidecar(paths)
    return sidecar is not None and bool(sidecar.get("sha256")) and matches(sidecar, ident)


def arch_source(arch, args):
    net, num_classes, n_params = load_network(arch, args)
    ident = identity(arch, args)
    provenance = {"weights": ident["weights"], "seed": args.seed if args.weights_kind == "none" else None,
                  "weights_sha256": ident.get("weights_sha256")}
    return Source(arch, net, num_classes, labels_for(arch, num_classes), dict(DEFAULT_PREPROCESSING), n_params,
                  provenance)


def model_source(args):
    """torchvision's network with the weights of the TorchScript export --model. FX quantization
    needs the Python module, not TorchScript; the check against the export's own output makes sure
    the export is that network (and not, say, a modified one whose changes would be lost)."""
    path = args.model
    sidecar = read_model_sidecar(path)
    arch = sidecar.get("arch")
    if arch not in ARCHS:
        raise ExportError(f"{sidecar_path_of(path)}: arch {arch!r} is not one of {', '.join(sorted(ARCHS))}")
    if args.arch not in (None, arch):
        raise ExportError(f"--arch {args.arch} but {path} is {arch} (its sidecar says so; drop --arch)")
    if sidecar.get("sha256") and sidecar["sha256"] != sha256_of(path):
        raise ExportError(f"{path} does not match the sha256 in its sidecar: damaged, or replaced after export")
    try:
        scripted = torch.jit.load(path, map_location="cpu").eval()
    except Exception as e:
        raise ExportError(f"cannot load {path} as TorchScript: {one_line(e)}") from None
    state_dict = dict(scripted.state_dict())
    num_classes = infer_num_classes(state_dict, path)
    net = build_model(arch, num_classes, args.seed)
    check_state_dict(net, state_dict, path, arch)
    net.load_state_dict(state_dict, strict=False)
    net.eval()
    x = torch.randn(*CHECK_SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        check_close(f"{path} (is it torchvision's {arch}?)", scripted(x), net(x))
    labels = sidecar.get("labels")
    if not (isinstance(labels, list) and len(labels) == num_classes):
        labels = labels_for(arch, num_classes)
    preprocessing = {k: sidecar.get(k, DEFAULT_PREPROCESSING[k]) for k in PREPROCESSING_KEYS}
    provenance = {"weights": sidecar.get("weights"), "seed": None, "weights_sha256": None, "source_model": path,
                  "source_sha256": sha256_of(path)}
    return Source(arch, net, num_classes, labels, preprocessing, count_parameters(net), provenance, model_path=path)


def measure_agreement(path, source, held_out, held_out_videos, calibration_videos, args):
    """Reload the saved file (what torchvideo will run) and compare its outputs with the float32
    network's on the held-out clips."""
    try:
        loaded = torch.jit.load(path, map_location="cpu").eval()
    except Exception as e:
        raise ExportError(f"the {args.precision} export {path} does not load back: {one_line(e)}") from None
    logits = low_precision.logits_of(loaded, held_out)
    want = [held_out.shape[0], source.num_classes]
    if logits.dtype != torch.float32 or list(logits.shape) != want:
        raise ExportError(f"the {args.precision} export returns {logits.dtype} {list(logits.shape)}, "
                          f"expected torch.float32 {want}")
    result = low_precision.agreement(logits, low_precision.logits_of(source.net, held_out))
    result["source"] = args.calibrate
    if args.calibrate != "random":
        result["videos"] = len(set(held_out_videos))
        # Held-out clips come from other videos than the calibration clips while the set has enough.
        result["videosAlsoInCalibration"] = len(set(held_out_videos) & set(calibration_videos))
    return result


def export_low_precision(arch, args, clip_cache):
    paths = low_precision_paths(arch, args)
    label = f"{arch or args.model} {args.precision}"
    ident = low_precision_identity(arch, args)
    if not args.force and low_precision_up_to_date(paths, ident):
        print(f"{label}: up to date ({paths['pt']}); --force to re-export")
        return

    source = model_source(args) if args.model is not None else arch_source(arch, args)
    label = f"{source.arch} {args.precision}"
    calibration, held_out, calibration_videos, held_out_videos = clips_for(source, args, clip_cache, label)
    module, note = low_precision.convert(source, args.precision, calibration)

    os.makedirs(os.path.dirname(paths["pt"]) or ".", exist_ok=True)
    if os.path.exists(paths["json"]):
        os.remove(paths["json"])  # no sidecar may vouch for a half-written export
    with atomic_output(paths["pt"]) as tmp:
        torch.jit.save(module, tmp)
    measured = measure_agreement(paths["pt"], source, held_out, held_out_videos, calibration_videos, args)

    sidecar = {"arch": source.arch, "num_classes": source.num_classes, "labels": source.labels,
               **source.preprocessing, "parameters": source.parameters, "torch_version": torch.__version__,
               "torchvision_version": torchvision.__version__, **source.provenance, "onnx": None, "onnx_opset": None,
               "precision": args.precision}
    if args.precision == "int8":
        sidecar["quantized_engine"] = low_precision.QUANTIZED_ENGINE
        sidecar["calibration"] = {"source": args.calibrate, "clips": int(calibration.shape[0])}
        if args.calibrate != "random":
            sidecar["calibration"]["videos"] = len(set(calibration_videos))
    sidecar["agreement"] = measured
    sidecar["sha256"] = sha256_of(paths["pt"])
    write_json(sidecar, paths["json"])
    print(f"{label}: {note + '; ' if note else ''}agreement with float32 on {measured['clips']} held-out "
          f"{args.calibrate} clips: top-1 {measured['top1']:.3f}, max |prob diff| {measured['maxAbsProbDiff']:.2g}, "
          f"mean {measured['meanAbsProbDiff']:.2g}; wrote {paths['pt']}, {paths['json']}")


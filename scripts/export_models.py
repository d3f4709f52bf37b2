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
low_precision.py). int8 is calibrated on clips: --calibrate DATA reads N clips of a labelled video set
(root/<class>/<video>, CSV or list file) through torchvideo's own decoding and preprocessing (node
scripts/calibration-clips.js); --calibrate random uses random clips (for tests only). The sidecar adds
"precision", "calibration" and "agreement" (with the float32 network, measured on M held-out clips).
--model converts a TorchScript export (a network fine-tuned by torchvideo) instead of --arch, with
the labels and preprocessing of its sidecar.

Run it with Debian's /usr/bin/python3: that is the interpreter that has torch 1.13 and torchvision 0.14.
"""

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile

import torch
import torchvision
from torchvision.models import video as tv_video

class ExportError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 2."""


# arch id -> (builder name, weights enum name) in torchvision.models.video.
ARCHS = {
    "r3d_18": ("r3d_18", "R3D_18_Weights"),
    "mc3_18": ("mc3_18", "MC3_18_Weights"),
    "r2plus1d_18": ("r2plus1d_18", "R2Plus1D_18_Weights"),
}

# Facts the Node side needs to preprocess exactly like torchvision's VideoClassification preset
# and the reference evaluation (frame_rate=15, clip_len=16). Their one source is
# cpp/video/preprocessing_defaults.json (CMake generates the addon's cpp/video/preprocessing_defaults.h
# from it); check_preprocessing() holds them against torchvision's preset.
DEFAULTS_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cpp", "video",
                             "preprocessing_defaults.json")


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

KINETICS_CLASSES = 400
DEFAULT_OPSET = 14
# Small input for the post-export sanity check: any T,H,W works thanks to the adaptive pool, and a
# small clip keeps the check to a fraction of a second even with the plain profiling executor.
CHECK_SHAPE = (1, 3, 8, 56, 56)
ONNX_SHAPE = (1, 3, CLIP_LENGTH, CROP_SIZE[0], CROP_SIZE[1])
MAX_KEYS_LISTED = 10

PRECISIONS = ("fp32", "bf16", "int8")
DEFAULT_CALIBRATION_CLIPS = 64
DEFAULT_AGREEMENT_CLIPS = 32
INT8_NEEDS_CALIBRATION = "int8 needs calibration clips: --calibrate DATA (or --calibrate random for tests)"
CALIBRATION_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calibration-clips.js")



# ----------------------------------------------------------------------------- arguments

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


# ----------------------------------------------------------------------------- weights

def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_state_dict_file(path):
    """Load a state dict without ever unpickling arbitrary objects.

    torch.load(weights_only=True) first. torch 1.13's weights-only unpickler refuses more than it
    must, though: it lacks the float opcode, so the checkpoints of torchvision's reference train.py
    ({"model", "optimizer", "lr_scheduler", "epoch", "args": Namespace}) fail. For those, read the
    file again with an unpickler that allows the same torch globals and turns every other global into
    an inert placeholder, so nothing from the file is ever called; the placeholders are dropped when
    the state dict is taken out of the checkpoint."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # UnpicklingError for anything beyond plain tensors/containers, ...
        try:
            obj, placeholders = load_restricted(path)
        except Exception as e:
            raise ExportError(f"cannot load {path} as a state dict: {one_line(e)}") from None
        if placeholders:
            print(f"note: {path} holds objects besides tensors ({list_keys(placeholders)}); "
                  "read them as inert placeholders", file=sys.stderr)
    return unwrap_state_dict(obj, path)


def one_line(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class _Inert:
    """Stands in for an object the file names but we do not trust (argparse.Namespace, ...).
    Constructing or restoring it runs nothing from the file."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def load_restricted(path):
    """Unpickle a zip-format torch checkpoint with a find_class that only hands out the globals torch's
    own weights-only unpickler allows (tensor rebuilders, dtypes, OrderedDict, ...). Returns the object
    and the names of the globals that became placeholders.

    This calls torch.serialization._load directly on purpose: torch 1.13's public torch.load silently
    replaces any pickle_module with the stock pickle when weights_only is False, which would run the
    file's code."""
    import pickle
    import types
    from torch import _weights_only_unpickler, serialization

    allowed = _weights_only_unpickler._get_allowed_globals()
    placeholders = set()
    lookups = []

    class RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            qualified = f"{module}.{name}"
            lookups.append(qualified)
            if qualified in allowed:
                return allowed[qualified]
            placeholders.add(qualified)
            return type(f"Inert[{qualified}]", (_Inert,), {})

    restricted = types.ModuleType("restricted_pickle")
    restricted.Unpickler = RestrictedUnpickler
    with open(path, "rb") as f:
        if not zipfile.is_zipfile(f):
            raise ValueError("not a zip-format torch checkpoint (what torch.save writes since 1.6)")
        f.seek(0)
        with serialization._open_zipfile_reader(f) as archive:
            obj = serialization._load(archive, "cpu", restricted, encoding="utf-8")
    if not lookups:
        # Every tensor goes through torch._utils._rebuild_tensor_v2: no lookup at all means our
        # find_class was bypassed, and the result cannot be trusted.
        raise RuntimeError("the restricted unpickler was bypassed; refusing the result")
    return obj, sorted(placeholders)


def unwrap_state_dict(obj, path):
    # torchvision's references/video_classification/train.py saves {"model": ..., "optimizer": ...};
    # other trainers use "state_dict".
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ExportError(f"{path} holds no state dict (expected a dict of tensors, "
                          "or a checkpoint with one under 'model' or 'state_dict'; save model.state_dict(), not the module)")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ExportError(f"{path}: {len(not_tensors)} entries are not tensors: {list_keys(not_tensors)}")
    # DataParallel / DistributedDataParallel prefix every key with "module.".
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def kinetics_state_dict(arch):
    """Fetch torchvision's KINETICS400_V1 weights through the torch hub cache, then load them
    weights-only (torch.hub.load_state_dict_from_url in 1.13 would unpickle without that guard)."""
    weights = weights_enum(arch).KINETICS400_V1
    url = weights.url
    filename = os.path.basename(url)
    cache_dir = os.path.join(torch.hub.get_dir(), "checkpoints")
    cached = os.path.join(cache_dir, filename)
    if not os.path.isfile(cached):
        os.makedirs(cache_dir, exist_ok=True)
        # The file name carries a sha256 prefix ("r3d_18-b3b3357e.pth"): check it like torch.hub does.
        match = re.search(r"-([a-f0-9]+)\.", filename)
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(60)  # an unreachable network should fail, not hang
        try:
            print(f"{arch}: downloading {url} -> {cached}", file=sys.stderr)
            torch.hub.download_url_to_file(url, cached, hash_prefix=match.group(1) if match else None)
        except Exception as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ExportError(
                f"download of {arch} KINETICS400_V1 weights from {url} failed ({reason}); "
                f"offline, pass a local copy instead: --weights path/to/{filename}") from None
        finally:
            socket.setdefaulttimeout(previous_timeout)
    return load_state_dict_file(cached)


def weights_enum(arch):
    return getattr(tv_video, ARCHS[arch][1])


def infer_num_classes(state_dict, path):
    fc = state_dict.get("fc.weight")
    if fc is None or fc.dim() != 2:
        raise ExportError(f"{path}: cannot infer --num-classes, no 2-D 'fc.weight' in the state dict")
    return int(fc.shape[0])


def list_keys(keys):
    keys = sorted(str(k) for k in keys)
    shown = ", ".join(keys[:MAX_KEYS_LISTED])
    more = f", ... ({len(keys) - MAX_KEYS_LISTED} more)" if len(keys) > MAX_KEYS_LISTED else ""
    return f"{shown}{more}"


def check_state_dict(model, state_dict, source, arch):
    """Compare keys and shapes ourselves so the error names them (load_state_dict's message is a
    wall of text and stops at the first shape mismatch per key type)."""
    expected = model.state_dict()
    fc_w = state_dict.get("fc.weight")
    if fc_w is not None and tuple(fc_w.shape) != tuple(expected["fc.weight"].shape):
        raise ExportError(
            f"{source}: fc.weight has shape {list(fc_w.shape)} but --num-classes "
            f"{expected['fc.weight'].shape[0]} needs {list(expected['fc.weight'].shape)}")
    # num_batches_tracked is only used in training with momentum=None; old checkpoints lack it and
    # BatchNorm fills it in, so its absence is not an error.
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [f"{k} {list(state_dict[k].shape)} vs {list(v.shape)}"
                  for k, v in expected.items()
                  if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {list_keys(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {list_keys(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches (file vs {arch}): {list_keys(mismatched)}")
    if problems:
        raise ExportError(f"{source} does not fit {arch}: " + "; ".join(problems))


# ----------------------------------------------------------------------------- model

def build_model(arch, num_classes, seed):
    # Seed right before construction so each arch's random init is the same whatever order
    # (or subset) of archs is exported.
    torch.manual_seed(seed)
    builder = getattr(tv_video, ARCHS[arch][0])
    return builder(weights=None, num_classes=num_classes)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def check_parameter_count(arch, model, num_classes):
    n = count_parameters(model)
    if num_classes == KINETICS_CLASSES:
        expected = weights_enum(arch).KINETICS400_V1.meta["num_params"]
        if n != expected:
            raise ExportError(f"{arch}: {n} parameters, torchvision's metadata says {expected}")
    return n


def labels_for(arch, num_classes):
    if num_classes == KINETICS_CLASSES:
        # Shipped inside torchvision (no download), in the order of the logits.
        return list(weights_enum(arch).KINETICS400_V1.meta["categories"])
    return [f"class_{i}" for i in range(num_classes)]


def max_abs_diff(a, b):
    return float((a - b).abs().max())


def check_close(what, got, want):
    # Tolerance scaled to the logits' magnitude: fused kernels reorder float sums.
    tol = 1e-4 * max(1.0, float(want.abs().max()))
    diff = max_abs_diff(got, want)
    if not diff <= tol:
        raise ExportError(f"{what} differs from eager PyTorch by {diff:.3g} (tolerance {tol:.3g})")
    return diff


# ----------------------------------------------------------------------------- writing

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


# ----------------------------------------------------------------------------- one arch

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


def load_network(arch, args):
    """The eval-mode float32 network that --weights (or random init) describes: (model, classes,
    parameter count)."""
    if args.weights_kind == "none":
        state_dict, source = None, "random init"
    elif args.weights_kind == "kinetics":
        state_dict, source = kinetics_state_dict(arch), f"{arch} KINETICS400_V1"
    else:
        state_dict, source = load_state_dict_file(args.weights), args.weights

    num_classes = args.num_classes
    if num_classes is None:
        num_classes = infer_num_classes(state_dict, source) if state_dict is not None else KINETICS_CLASSES

    check_preprocessing(arch)
    model = build_model(arch, num_classes, args.seed)
    if state_dict is not None:
        check_state_dict(model, state_dict, source, arch)
        # strict=False only so that a missing num_batches_tracked is tolerated; every other key was
        # checked above.
        model.load_state_dict(state_dict, strict=False)
    model.eval()
    return model, num_classes, check_parameter_count(arch, model, num_classes)


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


# ----------------------------------------------------------------------------- bf16 / int8

# The sidecar fields that describe preprocessing, in the order fp32 sidecars list them.
PREPROCESSING_KEYS = ("clip_length", "frame_rate", "resize_size", "crop_size", "mean", "std")
DEFAULT_PREPROCESSING = dict(zip(PREPROCESSING_KEYS, (CLIP_LENGTH, FRAME_RATE, RESIZE_SIZE, CROP_SIZE, MEAN, STD)))


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


def sidecar_path_of(model_path):
    """src/sidecar.ts's sidecarPathOf: <name>.json beside <name>.pt."""
    return re.sub(r"\.(pt|pth|ts|torchscript)$", "", model_path, flags=re.IGNORECASE) + ".json"


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


def convert(source, precision, calibration):
    import low_precision

    if precision == "bf16":
        return low_precision.to_bf16(source.net), ""
    module = low_precision.to_int8(source.net, calibration)
    quantized, floats = low_precision.convolution_counts(module)
    note = f"{quantized} of {quantized + floats} convolutions quantized"
    if floats:
        print(f"{source.arch}: warning: {floats} convolutions stay float32 in the int8 export", file=sys.stderr)
    return module, note


def measure_agreement(path, source, held_out, held_out_videos, calibration_videos, args):
    """Reload the saved file (what torchvideo will run) and compare its outputs with the float32
    network's on the held-out clips."""
    import low_precision

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
    import low_precision  # only here: fp32 exports do not need torch.ao and torch.fx

    paths = low_precision_paths(arch, args)
    label = f"{arch or args.model} {args.precision}"
    ident = low_precision_identity(arch, args)
    if not args.force and low_precision_up_to_date(paths, ident):
        print(f"{label}: up to date ({paths['pt']}); --force to re-export")
        return

    source = model_source(args) if args.model is not None else arch_source(arch, args)
    label = f"{source.arch} {args.precision}"
    calibration, held_out, calibration_videos, held_out_videos = clips_for(source, args, clip_cache, label)
    module, note = convert(source, args.precision, calibration)

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
            clip_cache = {}
            for arch in archs:
                export_low_precision(arch, args, clip_cache)
    except (ExportError, OSError) as e:
        print(f"export_models.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

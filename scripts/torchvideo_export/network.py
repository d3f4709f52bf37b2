"""torchvision's network for an arch, and the weights that go into it (random init, torchvision's
KINETICS400_V1, or a local state dict), each checked so that a mismatch is named."""

import os
import re
import socket
import sys

import torch
from torchvision.models import video as tv_video

from .common import ARCHS, KINETICS_CLASSES, ExportError, list_keys
from .defaults import check_preprocessing
from .restricted_load import load_state_dict_file


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


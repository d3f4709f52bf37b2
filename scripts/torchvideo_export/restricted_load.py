"""Loading a .pth state dict (or a training checkpoint holding one) without ever running code from the file.

torch.load(weights_only=True) first; torch 1.13's weights-only unpickler refuses more than it must, so
checkpoints it refuses are read again by load_restricted(): the same allowed torch globals, every other
global an inert placeholder. Tested on its own by test/py/check_restricted_load.py (test/restricted-load.test.js).
"""

import sys
import zipfile

import torch

from .common import ExportError, list_keys, one_line


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


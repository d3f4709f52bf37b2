"""What every part of the exporter shares: the user-facing error, the architectures and small helpers."""

import hashlib


class ExportError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 2."""


# arch id -> (builder name, weights enum name) in torchvision.models.video.
ARCHS = {
    "r3d_18": ("r3d_18", "R3D_18_Weights"),
    "mc3_18": ("mc3_18", "MC3_18_Weights"),
    "r2plus1d_18": ("r2plus1d_18", "R2Plus1D_18_Weights"),
}

KINETICS_CLASSES = 400
DEFAULT_OPSET = 14
# Small input for the post-export sanity check: any T,H,W works thanks to the adaptive pool, and a
# small clip keeps the check to a fraction of a second even with the plain profiling executor.
CHECK_SHAPE = (1, 3, 8, 56, 56)
MAX_KEYS_LISTED = 10


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def one_line(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def list_keys(keys):
    keys = sorted(str(k) for k in keys)
    shown = ", ".join(keys[:MAX_KEYS_LISTED])
    more = f", ... ({len(keys) - MAX_KEYS_LISTED} more)" if len(keys) > MAX_KEYS_LISTED else ""
    return f"{shown}{more}"

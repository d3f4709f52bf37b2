"""Tests of scripts/torchvideo_export/restricted_load.py, the .pth loader that never runs code from the file.

Run by test/restricted-load.test.js with Debian's /usr/bin/python3 (torch 1.13). Prints one JSON line per
test case ({"name", "ok", "detail"}) and exits 1 if any failed. Every file is made here, in a temporary folder.
"""

import argparse
import builtins
import collections
import contextlib
import io
import json
import os
import sys
import tempfile
import traceback

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))

from torchvideo_export.common import ExportError  # noqa: E402
from torchvideo_export.restricted_load import load_restricted, load_state_dict_file  # noqa: E402


class Payload:
    """Unpickling it calls builtins.open(marker, 'w'): the marker file shows that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def small_state_dict():
    torch.manual_seed(0)
    return collections.OrderedDict(
        [("conv.weight", torch.randn(4, 3, 1, 1)), ("conv.bias", torch.randn(4)), ("bn.num_batches_tracked", torch.tensor(7))])


def same_tensors(got, want):
    return list(got) == list(want) and all(torch.equal(got[k], want[k]) and got[k].dtype == want[k].dtype for k in want)


def load_quietly(path):
    """load_state_dict_file's result and what it wrote on stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        result = load_state_dict_file(path)
    return result, err.getvalue()


def expect_error(path, pattern):
    try:
        load_quietly(path)
    except ExportError as e:
        assert pattern in str(e), f"error {str(e)!r} does not mention {pattern!r}"
        assert str(path) in str(e), f"error {str(e)!r} does not name the file"
        return str(e)
    raise AssertionError("no ExportError")


def test_plain_state_dict(d):
    want = small_state_dict()
    path = os.path.join(d, "plain.pth")
    torch.save(want, path)
    got, err = load_quietly(path)
    assert same_tensors(got, want), "the tensors come back unchanged"
    assert err == "", f"no note for a plain state dict, got {err!r}"


def test_reference_train_checkpoint(d):
    """torchvision's references/video_classification/train.py: floats and an argparse.Namespace beside the
    model, which torch 1.13's weights-only unpickler refuses: the restricted unpickler reads it."""
    want = small_state_dict()
    path = os.path.join(d, "checkpoint.pth")
    torch.save({"model": want, "optimizer": {"param_groups": [{"lr": 0.01, "momentum": 0.9}]}, "lr_scheduler": {},
                "epoch": 3, "args": argparse.Namespace(lr=0.01, data_path="/data")}, path)
    try:
        torch.load(path, map_location="cpu", weights_only=True)
        refused = False
    except Exception:
        refused = True
    assert refused, "torch's weights-only load refuses this checkpoint (else this test proves nothing)"
    got, err = load_quietly(path)
    assert same_tensors(got, want), "the model's tensors come out of the checkpoint"
    assert "argparse.Namespace" in err and "inert placeholders" in err, f"the note names the placeholder: {err!r}"


def test_state_dict_key_and_module_prefix(d):
    want = small_state_dict()
    path = os.path.join(d, "ddp.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in want.items()}, "epoch": 1.5}, path)
    got, _ = load_quietly(path)
    assert same_tensors(got, want), "'state_dict' unwrapped and DataParallel's 'module.' prefix dropped"


def test_payload_never_runs(d):
    marker = os.path.join(d, "ran.marker")
    path = os.path.join(d, "payload.pth")
    torch.save({"model": Payload(marker), "epoch": 0.5}, path)
    assert not os.path.exists(marker), "saving did not run the payload"
    expect_error(path, "not tensors")
    assert not os.path.exists(marker), "loading did not run the payload"
    obj, placeholders = load_restricted(path)
    assert any(p.endswith(".open") for p in placeholders), f"open (io.open) became a placeholder: {placeholders}"
    assert not os.path.exists(marker), "load_restricted itself did not run it"
    torch.load(path)  # the payload is live: an unrestricted load runs it
    assert os.path.exists(marker), "an unrestricted torch.load does write the marker"


def test_payload_inside_state_dict(d):
    marker = os.path.join(d, "ran2.marker")
    path = os.path.join(d, "mixed.pth")
    sd = dict(small_state_dict())
    sd["evil"] = Payload(marker)
    torch.save(sd, path)
    message = expect_error(path, "1 entries are not tensors")
    assert "evil" in message, f"the entry is named: {message}"
    assert not os.path.exists(marker), "the payload did not run"


def test_whole_module_refused(d):
    path = os.path.join(d, "module.pth")
    torch.save(torch.nn.Linear(2, 2), path)
    expect_error(path, "holds no state dict")


def test_empty_and_non_dict(d):
    path = os.path.join(d, "empty.pth")
    torch.save({}, path)
    expect_error(path, "holds no state dict")
    path = os.path.join(d, "list.pth")
    torch.save([torch.zeros(1)], path)
    expect_error(path, "holds no state dict")


def test_legacy_format_with_objects(d):
    """Only the zip format (torch.save since 1.6) goes through the restricted unpickler."""
    path = os.path.join(d, "legacy.pth")
    torch.save({"model": small_state_dict(), "args": argparse.Namespace(lr=0.1), "epoch": 0.5}, path,
               _use_new_zipfile_serialization=False)
    expect_error(path, "not a zip-format torch checkpoint")


def test_not_a_checkpoint(d):
    path = os.path.join(d, "text.pth")
    with open(path, "w", encoding="utf-8") as f:
        f.write("not a checkpoint\n")
    expect_error(path, "cannot load")


def test_no_lookup_is_refused(d):
    """Every tensor goes through a global (torch._utils._rebuild_tensor_v2): a file the restricted
    unpickler read without a single lookup is refused rather than trusted."""
    path = os.path.join(d, "floats.pth")
    torch.save({"lr": 0.5}, path)
    try:
        load_restricted(path)
    except RuntimeError as e:
        assert "bypassed" in str(e), str(e)
    else:
        raise AssertionError("no RuntimeError")
    expect_error(path, "bypassed")


def main():
    tests = [(name, fn) for name, fn in globals().items() if name.startswith("test_") and callable(fn)]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="torchvideo-restricted-load-") as d:
        for name, fn in tests:
            try:
                fn(d)
                print(json.dumps({"name": name, "ok": True, "detail": ""}))
            except Exception:
                failed += 1
                print(json.dumps({"name": name, "ok": False, "detail": traceback.format_exc()}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Rewrites one field of a torchvideo trainer checkpoint, for tests of what restore accepts.

A checkpoint is a LibTorch archive (torch::serialize::OutputArchive): a TorchScript module whose attributes
and buffers are the fields (cpp/train/checkpoint.h), so PyTorch loads it, sets the field and saves it again.
Usage: alter_checkpoint.py IN OUT KEY VALUE_JSON, where VALUE_JSON is a JSON value, or {"zeros": [shape]}
for a float32 tensor of zeros; KEY "-" rewrites nothing (the control). Prints {"key": KEY} as its last line.
"""
import json
import sys

import torch

source, target, key, value = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
archive = torch.jit.load(source)
if key != "-":
    if isinstance(value, dict) and "zeros" in value:
        value = torch.zeros(value["zeros"])
    setattr(archive, key, value)
archive.save(target)
print(json.dumps({"key": key}))

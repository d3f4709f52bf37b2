"""torchvideo's exporter of torchvision's video ResNets (run it as scripts/export_models.py).

Modules:
  common           ExportError, the architectures and small helpers every module shares
  defaults         the preprocessing defaults, read from cpp/video/preprocessing_defaults.json
  restricted_load  loading a .pth state dict / checkpoint without unpickling arbitrary objects
  network          building torchvision's network and fitting a state dict to it
  writer           atomic TorchScript / ONNX / sidecar JSON writing
  fp32             the float32 export (<arch>.pt, <arch>.json, optionally <arch>.onnx)
  low_precision    bf16 and int8 conversion of a float32 network, and agreement with it
  calibration      the clips int8 calibrates on and the held-out agreement clips
  low_precision_export  the bf16 / int8 export (<arch>-<precision>.pt and its sidecar)
  cli              the command line (argument checks, main)
"""

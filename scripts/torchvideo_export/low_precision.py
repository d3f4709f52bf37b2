"""bf16 and int8 versions of an eval-mode torchvision video ResNet, as frozen TorchScript, and how far
their outputs move from the float32 network's. Used by export_models.py --precision bf16|int8
(low_precision_export.py); imported only there, so float32 exports never load torch.ao and torch.fx.

Both kinds of module take the float32 (B, 3, T, H, W) clips torchvideo feeds every export and return
float32 logits: the casts (bf16) or the quantization (int8) happen inside, so a caller needs to know
nothing about the precision.
"""

import copy
import sys
import warnings

import torch
from torch import nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
from torch.fx.experimental.optimization import fuse as fuse_conv_bn

# The quantized engine of Debian's torch 1.13 on x86 (no fbgemm there): oneDNN's kernels use VNNI.
# Packed weights are stored engine-neutral and repacked at load for the engine then selected, so
# the loader must select this one too.
QUANTIZED_ENGINE = "onednn"
# Clips per forward pass while calibrating or comparing: bounds the activations' memory.
BATCH = 4
# Keeping the module's `training` attribute through freezing lets it be frozen again later
# (torch.jit.freeze reads it; torchvideo's loader freezes every model it loads).
PRESERVED_ATTRS = ["training"]


def plain_convs(net):
    """A copy of `net` whose Conv3d subclasses (torchvision's Conv3DSimple, Conv3DNoTemporal) are
    plain nn.Conv3d with the same weights. FX treats only torch.nn's own classes as leaves: a subclass
    is traced into F.conv3d, and then neither the conv + batch-norm fusion nor module quantization
    sees a convolution module."""
    net = copy.deepcopy(net)
    _replace_conv_subclasses(net)
    return net


def _replace_conv_subclasses(module):
    for name, child in module.named_children():
        if isinstance(child, nn.Conv3d) and type(child) is not nn.Conv3d:
            plain = nn.Conv3d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                              child.padding, child.dilation, child.groups, child.bias is not None,
                              child.padding_mode)
            plain.load_state_dict(child.state_dict())
            setattr(module, name, plain.train(child.training))
        else:
            _replace_conv_subclasses(child)


class Bf16Clips(nn.Module):
    """float32 clips in, float32 logits out; the network runs in bf16.

    Weights and activations stay in the default (contiguous) layout, not channels_last_3d: torch
    1.13's oneDNN convolution has no channels-last 3D path, so it copies channels_last_3d inputs and
    weights back to contiguous on every call (23 copies per r3d_18 clip, measured 5-11% slower)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.net(clips.to(torch.bfloat16)).float()


def to_bf16(net):
    """Frozen TorchScript of `net` in bf16. Batch norm is folded into the convolutions while still in
    float32: folding after the cast (what freezing would do) rounds the folded weights twice.
    (torch.utils.mkldnn's prepacked bf16 modules run ~10% faster still, but hold opaque tensors that
    torch.jit.freeze refuses, and torchvideo freezes every model it loads.)"""
    fused = fuse_conv_bn(plain_convs(net).eval()).to(torch.bfloat16)
    return torch.jit.freeze(torch.jit.script(Bf16Clips(fused).eval()), preserved_attrs=PRESERVED_ATTRS)


def to_int8(net, calibration):
    """Frozen TorchScript of `net` statically quantized with FX for QUANTIZED_ENGINE: per-channel
    symmetric int8 weights, uint8 activations whose ranges are observed (histograms) on the
    `calibration` clips. The quantized graph quantizes its float32 input and dequantizes its logits."""
    torch.backends.quantized.engine = QUANTIZED_ENGINE
    qconfig = get_default_qconfig_mapping(QUANTIZED_ENGINE)
    with warnings.catch_warnings():
        # FX's quantization notes its packed-weight attributes are not parameters: expected, noise.
        warnings.filterwarnings("ignore", message=".*does not reference an nn.Module.*")
        prepared = prepare_fx(plain_convs(net).eval(), qconfig, example_inputs=(calibration[:1],))
        with torch.no_grad():
            for batch in calibration.split(BATCH):
                prepared(batch)
        quantized = convert_fx(prepared)
    return torch.jit.freeze(torch.jit.script(quantized).eval(), preserved_attrs=PRESERVED_ATTRS)


def convolution_counts(module):
    """(quantized, float) convolutions in a frozen module's graph: float ones left in an int8 export
    mean some layer did not quantize (and runs slower, converting back and forth)."""
    kinds = [node.kind() for node in module.graph.findAllNodes("quantized::conv3d", True)]
    kinds += [node.kind() for node in module.graph.findAllNodes("quantized::conv3d_relu", True)]
    floats = module.graph.findAllNodes("aten::conv3d", True) + module.graph.findAllNodes("aten::_convolution", True)
    return len(kinds), len(floats)


def logits_of(module, clips):
    with torch.inference_mode():
        return torch.cat([module(batch) for batch in clips.split(BATCH)])


def agreement(logits, reference):
    """How far `logits` move from the float32 `reference` logits of the same clips. Per clip, the
    largest |probability difference| over the classes (softmax of each); its mean and max over the
    clips, and the share of clips whose top-1 class is the reference's."""
    probs, ref_probs = logits.float().softmax(1), reference.float().softmax(1)
    per_clip = (probs - ref_probs).abs().amax(1)
    return {
        "clips": int(logits.shape[0]),
        "top1": float((logits.argmax(1) == reference.argmax(1)).float().mean()),
        "meanAbsProbDiff": float(per_clip.mean()),
        "maxAbsProbDiff": float(per_clip.max()),
        "maxAbsLogitDiff": float((logits.float() - reference.float()).abs().max()),
    }


def convert(source, precision, calibration):
    """The bf16 or int8 module of `source`'s network (a low_precision_export.Source) and a note for the
    summary line; warns when an int8 export keeps float32 convolutions."""
    if precision == "bf16":
        return to_bf16(source.net), ""
    module = to_int8(source.net, calibration)
    quantized, floats = convolution_counts(module)
    note = f"{quantized} of {quantized + floats} convolutions quantized"
    if floats:
        print(f"{source.arch}: warning: {floats} convolutions stay float32 in the int8 export", file=sys.stderr)
    return module, note

"""Writes TorchScript modules that loadModel must refuse, into --out:
identity.pt (returns its input), tuple.pt (returns a tuple), raises.pt (fails on any input),
nan-weights.pt / inf-buffer.pt (mc3_18, 10 classes, with one non-finite parameter / running stat),
and damaged exports made from --model by replacing one archive entry (damaged-*.pt)."""
import argparse
import os
import zipfile

import torch
import torchvision


class Identity(torch.nn.Module):
    def forward(self, x):
        return x


class Pair(torch.nn.Module):
    def forward(self, x):
        return x.mean(), x


class Raises(torch.nn.Module):
    def forward(self, x):
        if x.dim() > 0:
            raise RuntimeError("this module refuses every input")
        return x


def damaged_copies(model, out):
    with zipfile.ZipFile(model) as archive:
        blobs = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    names = list(blobs)
    pick = {
        "data-pkl-empty": (next(n for n in names if n.endswith("/data.pkl")), lambda d: b""),
        "data-pkl-garbage": (next(n for n in names if n.endswith("/data.pkl")), lambda d: b"\x00garbage\xff" * 3),
        "code-half": (next(n for n in names if "/code/" in n and n.endswith(".py") and "mangle" in n),
                      lambda d: d[: len(d) // 2]),
        "code-empty": (next(n for n in names if "/code/" in n and n.endswith("resnet.py")), lambda d: b""),
    }
    for label, (entry, change) in pick.items():
        with zipfile.ZipFile(os.path.join(out, f"damaged-{label}.pt"), "w", zipfile.ZIP_STORED) as w:
            for name in names:
                w.writestr(name, change(blobs[name]) if name == entry else blobs[name])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--model", required=True)
    args = p.parse_args()
    torch.jit.script(Identity()).save(os.path.join(args.out, "identity.pt"))
    torch.jit.script(Pair()).save(os.path.join(args.out, "tuple.pt"))
    torch.jit.script(Raises()).save(os.path.join(args.out, "raises.pt"))
    torch.manual_seed(0)
    net = torchvision.models.video.mc3_18(num_classes=10).eval()
    with torch.no_grad():
        net.layer2[0].conv1[0].weight[3, 1, 0, 1, 2] = float("nan")
    torch.jit.script(net).save(os.path.join(args.out, "nan-weights.pt"))
    net = torchvision.models.video.mc3_18(num_classes=10).eval()
    net.layer1[0].conv1[1].running_var[5] = float("inf")
    torch.jit.script(net).save(os.path.join(args.out, "inf-buffer.pt"))
    damaged_copies(args.model, args.out)


if __name__ == "__main__":
    main()

"""Writes --out: a small TorchScript classifier of (B, 3, T, H, W) clips (a 3D convolution, global
pooling, a linear layer; 7 classes, seed 0) that raises for clips of exactly 3 frames. The batcher's
tests use it for cheap forwards, and for a batch that fails as a whole (its T=3 requests) next to
batches that must go on working."""
import argparse

import torch


class Picky(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 8, kernel_size=3, padding=1)
        self.fc = torch.nn.Linear(8, 7)

    def forward(self, x):
        if x.size(2) == 3:
            raise RuntimeError("picky classifier: clips of 3 frames are refused")
        y = torch.relu(self.conv(x)).mean(dim=(2, 3, 4))
        return self.fc(y)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.manual_seed(0)
    torch.jit.script(Picky().eval()).save(args.out)


if __name__ == "__main__":
    main()

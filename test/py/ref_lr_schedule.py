#!/usr/bin/python3
"""torchvision's video-classification learning-rate schedule as PyTorch computes it, for torchvideo's tests.

Usage:
  /usr/bin/python3 test/py/ref_lr_schedule.py --lr LR --iters-per-epoch N --warmup-epochs W
      --warmup-decay D --milestones 20,30,40 --gamma G --iterations K

Builds train.py's scheduler (references/video_classification/train.py) on a one-parameter SGD:
  SequentialLR([LinearLR(start_factor=D, total_iters=W*N),
                MultiStepLR(milestones=[(m - W)*N for m in milestones], gamma=G)], milestones=[W*N])
and prints one JSON line: the learning rate each of iterations 0..K-1 trains with (the optimizer's lr
before that iteration's scheduler.step()). Python's float repr round-trips, so the values are exact.
"""

import argparse
import json
import sys
import warnings

import torch


def main(argv=None):
    p = argparse.ArgumentParser(prog="ref_lr_schedule.py")
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--iters-per-epoch", type=int, required=True)
    p.add_argument("--warmup-epochs", type=int, required=True)
    p.add_argument("--warmup-decay", type=float, required=True)
    p.add_argument("--milestones", type=lambda s: [int(m) for m in s.split(",") if m], required=True)
    p.add_argument("--gamma", type=float, required=True)
    p.add_argument("--iterations", type=int, required=True)
    args = p.parse_args(argv)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=args.lr)
    warmup_iters = args.warmup_epochs * args.iters_per_epoch
    main_scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[(m - args.warmup_epochs) * args.iters_per_epoch for m in args.milestones],
        gamma=args.gamma)
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=args.warmup_decay, total_iters=warmup_iters)
    scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, schedulers=[warmup, main_scheduler],
                                                      milestones=[warmup_iters])
    rates = []
    with warnings.catch_warnings():
        # SequentialLR calls MultiStepLR.step(0) at the switch, which warns that epoch is deprecated.
        warnings.simplefilter("ignore")
        for _ in range(args.iterations):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    print(json.dumps(rates))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""How many training windows torchvision's VideoClips makes of each video (the RandomClipSampler's pool).

Usage: /usr/bin/python3 test/py/ref_video_clips.py --videos a.mp4,b.avi --clip-len 16 --frame-rate 15 --output unused.bin

VideoClips(paths, frames_per_clip=clip_len, step_between_clips=1, frame_rate=frame_rate) as
references/video_classification/train.py builds its training set (PyAV decoding); prints
{"windows": [n per video], "first": [frame indices of each video's first window, or null]} as one JSON line.
"""
import argparse
import contextlib
import json
import sys
import warnings

from torchvision.datasets.video_utils import VideoClips


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", required=True)
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--frame-rate", type=int, default=15)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    open(args.output, "wb").close()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        clips = VideoClips(args.videos.split(","), args.clip_len, 1, frame_rate=args.frame_rate, output_format="TCHW")
    windows = [len(c) for c in clips.clips]
    first = []
    for i, n in enumerate(windows):
        if n == 0:
            first.append(None)
            continue
        # The first window's frames as indices into the video: resampling_idxs holds, per video, a slice
        # (an integer step) or each window's indices (an unfolded tensor).
        idx = clips.resampling_idxs[i]
        if isinstance(idx, slice):
            first.append([k * (idx.step or 1) for k in range(args.clip_len)])
        else:
            first.append([int(x) for x in idx[0]])
    print(json.dumps({"windows": windows, "first": first}))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""torchvision's clip sampling for torchvideo's sampleClips parity tests.

Usage: /usr/bin/python3 test/py/ref_sampling.py --cases '[[frames, fps, frame_rate, clip_len, clips], ...]'
                                                --output unused.bin

For each case: VideoClips.compute_clips_for_video over a video whose pts are its frame indices
(so the clips come out as frame indices), then UniformClipSampler on a VideoClips holding just that
video. Prints one JSON array: per case, the list of clips (each a list of frame indices), or [] when
torchvision drops the video (fewer frames than one clip).
"""
import argparse
import json
import warnings

import torch
from torchvision.datasets.samplers.clip_sampler import UniformClipSampler
from torchvision.datasets.video_utils import VideoClips


def sample(frames, fps, frame_rate, clip_len, clips_per_video):
    pts = torch.arange(frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "There aren't enough frames ..." for the dropped case
        clips, _ = VideoClips.compute_clips_for_video(pts, clip_len, 1, fps, frame_rate)
    holder = VideoClips.__new__(VideoClips)  # only .clips is read by the sampler
    holder.clips = [clips]
    return [clips[i].tolist() for i in UniformClipSampler(holder, clips_per_video)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    results = [sample(*case) for case in json.loads(args.cases)]
    open(args.output, "wb").close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()

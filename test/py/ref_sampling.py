#!/usr/bin/python3
"""torchvision's clip sampling for torchvideo's sampleClips / resampleFrameIndices parity tests.

Usage: /usr/bin/python3 test/py/ref_sampling.py --cases '[[frames, fps, frame_rate, clip_len, clips], ...]'
                                                --output unused.bin

For each case, over a video whose pts are its frame indices (so everything comes out as frame
indices): VideoClips.compute_clips_for_video (frame-rate resampling, then every clip_len window with
step 1), then UniformClipSampler on a VideoClips holding just that video. frame_rate null keeps the
video's own rate. Prints one JSON array with, per case, {"resampled": the frame indices kept by the
resampling, "candidates": every window, "clips": the uniform sampler's picks}; candidates and clips are
[] when torchvision drops the video (fewer resampled frames than one clip).
"""
import argparse
import json
import math
import warnings

import torch
from torchvision.datasets.samplers.clip_sampler import UniformClipSampler
from torchvision.datasets.video_utils import VideoClips


def resampled_indices(frames, fps, frame_rate):
    # compute_clips_for_video's first step, kept apart so short videos (no clip at all) still have it.
    frame_rate = fps if frame_rate is None else frame_rate
    pts = torch.arange(frames)
    total_frames = len(pts) * (float(frame_rate) / fps)
    return pts[VideoClips._resample_video_idx(int(math.floor(total_frames)), fps, frame_rate)].tolist()


def sample(frames, fps, frame_rate, clip_len, clips_per_video):
    pts = torch.arange(frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "There aren't enough frames ..." for the dropped case
        clips, _ = VideoClips.compute_clips_for_video(pts, clip_len, 1, fps, frame_rate)
    result = {"resampled": resampled_indices(frames, fps, frame_rate), "candidates": [], "clips": []}
    if clips.numel() == 0:
        return result  # dropped: UniformClipSampler has nothing to pick from (it would fail)
    holder = VideoClips.__new__(VideoClips)  # only .clips is read by the sampler
    holder.clips = [clips]
    result["candidates"] = clips.tolist()
    result["clips"] = [clips[i].tolist() for i in UniformClipSampler(holder, clips_per_video)]
    return result


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

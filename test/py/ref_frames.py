#!/usr/bin/python3
"""Reference frames for the C++ decoder's parity tests, decoded the way torchvision does: PyAV.

Usage: /usr/bin/python3 test/py/ref_frames.py --video V --indices 0,5,9 --output out.bin

Decodes every frame of the first video stream (av.open, stream.decode), puts them in
presentation order (sorted by pts when every frame has one, else decoder output order, which is
already presentation order), converts the selected ones with to_ndarray(format="rgb24") and writes
them as raw uint8 (T, H, W, 3). Prints {"shape", "fps", "frameCount"} as JSON on stdout.
"""
import argparse
import json
import sys

import av
import numpy as np


def parse_indices(text):
    return [int(x) for x in text.split(",") if x.strip() != ""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", required=True)
    parser.add_argument("--indices", required=True, help="comma-separated frame numbers, any order, repeats allowed")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    indices = parse_indices(args.indices)

    with av.open(args.video, metadata_errors="ignore") as container:
        if not container.streams.video:
            print(f"{args.video}: no video stream", file=sys.stderr)
            return 2
        # torchvision takes the first video stream; the C++ decoder takes the one FFmpeg ranks
        # best. They agree for files with one video stream, which is what the tests use.
        stream = container.streams.video[0]
        # Decoding keeps the frames themselves; conversion waits until we know which are wanted,
        # so a long video doesn't hold every frame as RGB.
        frames = list(container.decode(stream))
        fps = float(stream.average_rate) if stream.average_rate is not None else None

    if frames and all(f.pts is not None for f in frames):
        frames.sort(key=lambda f: f.pts)
    count = len(frames)
    for i in indices:
        if i < 0 or i >= count:
            print(f"index {i} out of range for {count} frames", file=sys.stderr)
            return 3

    if indices:
        data = np.stack([frames[i].to_ndarray(format="rgb24") for i in indices])
    else:
        first = frames[0].to_ndarray(format="rgb24") if frames else np.zeros((0, 0, 3), np.uint8)
        data = np.zeros((0,) + first.shape, np.uint8)
    data = np.ascontiguousarray(data, dtype=np.uint8)
    with open(args.output, "wb") as f:
        f.write(data.tobytes())
    print(json.dumps({"shape": list(data.shape), "fps": fps, "frameCount": count}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

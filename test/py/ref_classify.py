#!/usr/bin/python3
"""torchvision's whole video classification pipeline, as the reference for classifyVideo.

Usage: /usr/bin/python3 test/py/ref_classify.py --model M.pt --video V [--clips 5] [--clip-len 16]
                                                [--frame-rate 15] --output probs.bin

torchvision's VideoClips (PyAV decoding, frame-rate resampling, every 16-frame window as a clip),
UniformClipSampler (evenly spaced clips), the VideoClassification preset (resize 128x171, center
crop 112, normalize), the TorchScript export in eval mode, and the mean of the clips' softmax.
Writes the probabilities as raw float32 and prints {"clips": n} on stdout.
"""
import argparse
import json
import warnings

import torch
from torchvision.datasets.samplers.clip_sampler import UniformClipSampler
from torchvision.datasets.video_utils import VideoClips
from torchvision.transforms._presets import VideoClassification


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--clips", type=int, default=5)
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--frame-rate", type=int, default=15)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyAV/torchvision deprecation chatter
        video_clips = VideoClips([args.video], args.clip_len, 1, frame_rate=args.frame_rate, output_format="TCHW")
        transform = VideoClassification(crop_size=(112, 112), resize_size=(128, 171))
        clips = [transform(video_clips.get_clip(i)[0]) for i in UniformClipSampler(video_clips, args.clips)]

    # int8 exports are quantized for oneDNN (Debian's build has no FBGEMM), as torchvideo runs them.
    if "onednn" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "onednn"
    model = torch.jit.load(args.model).eval()
    with torch.inference_mode():
        probabilities = torch.softmax(model(torch.stack(clips)), dim=1).mean(dim=0)
    probabilities.numpy().astype("<f4").tofile(args.output)
    print(json.dumps({"clips": len(clips)}))


if __name__ == "__main__":
    main()

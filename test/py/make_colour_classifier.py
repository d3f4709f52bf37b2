#!/usr/bin/python3
"""An mc3_18 export whose answer on solid-colour videos is known: each colour's class wins on its colour.

Usage: /usr/bin/python3 test/py/make_colour_classifier.py --labels red,green,... --videos r.mp4,g.mp4,...
                                                          --out colours.pt [--clip-len 16] [--frame-rate 15]

torchvision's mc3_18 with a random backbone (seed 0) and num_classes = the number of colours. The
backbone features of one clip of each colour's video (--videos, in --labels order; VideoClips decoding at
--frame-rate, its first --clip-len window, the VideoClassification preset) are computed, and fc's weights
and bias are set by least squares so that those clips' logits are one-hot * 10: colour i's class then
has the highest logit on colour i, with a margin of about 10. The model is checked end to end (argmax
and margin of the scripted module), scripted with torch.jit.script and saved with a sidecar JSON beside
it (out with .json for .pt) holding mc3_18's preprocessing fields and the colours as labels.
Prints {"margins": [...], "logits": [[...], ...]} on stdout.
"""
import argparse
import json
import os
import warnings

import torch
from torchvision.datasets.video_utils import VideoClips
from torchvision.models.video import mc3_18
from torchvision.transforms._presets import VideoClassification

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIDECAR_FIELDS = ["arch", "clip_length", "frame_rate", "resize_size", "crop_size", "mean", "std"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", required=True)
    parser.add_argument("--videos", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--frame-rate", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(2)
    labels = args.labels.split(",")
    videos = args.videos.split(",")
    if len(labels) != len(videos):
        parser.error(f"{len(labels)} labels for {len(videos)} videos")
    n = len(labels)

    with open(os.path.join(ROOT, "models", "mc3_18.json")) as f:
        template = json.load(f)
    transform = VideoClassification(
        crop_size=tuple(template["crop_size"]),
        resize_size=tuple(template["resize_size"]),
        mean=tuple(template["mean"]),
        std=tuple(template["std"]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyAV/torchvision deprecation chatter
        video_clips = VideoClips(videos, args.clip_len, 1, frame_rate=args.frame_rate, output_format="TCHW")
        firsts = [int(video_clips.cumulative_sizes[i - 1]) if i > 0 else 0 for i in range(n)]
        clips = torch.stack([transform(video_clips.get_clip(idx)[0]) for idx in firsts])

    torch.manual_seed(0)
    model = mc3_18(num_classes=n).eval()
    fc = model.fc
    model.fc = torch.nn.Identity()
    with torch.no_grad():
        features = model(clips).double()  # n x 512
        # [features 1] @ [W^T; b] = one-hot * 10, the minimum-norm exact solution (n << 512).
        design = torch.cat([features, torch.ones(n, 1, dtype=torch.float64)], dim=1)
        solution = torch.linalg.lstsq(design, torch.eye(n, dtype=torch.float64) * 10, driver="gelsd").solution
        fc.weight.copy_(solution[:-1].T.float())
        fc.bias.copy_(solution[-1].float())
    model.fc = fc

    with torch.inference_mode():
        logits = model(clips)
    margins = []
    for i in range(n):
        others = torch.cat([logits[i, :i], logits[i, i + 1 :]])
        margins.append(float(logits[i, i] - others.max()))
    if logits.argmax(dim=1).tolist() != list(range(n)) or min(margins) < 5:
        raise SystemExit(f"make_colour_classifier.py: the fc does not separate the colours (margins {margins})")

    scripted = torch.jit.script(model)
    scripted.save(args.out)
    sidecar = {field: template[field] for field in SIDECAR_FIELDS}
    sidecar.update(num_classes=n, labels=labels, weights="random backbone (seed 0), fc fitted to solid colours")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(sidecar, f, indent=1)
    print(json.dumps({"margins": margins, "logits": logits.tolist()}))


if __name__ == "__main__":
    main()

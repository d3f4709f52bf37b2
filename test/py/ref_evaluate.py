#!/usr/bin/python3
"""torchvision's references/video_classification evaluate(), as the reference for torchvideo's evaluate().

Usage: /usr/bin/python3 test/py/ref_evaluate.py --model M.pt --spec spec.json [--clips 3] [--clip-len 16]
                                                [--frame-rate 15] [--batch-size 4] [--crops 3] --output probs.bin

spec.json: {"videos": [{"path": "a.mp4", "label": 12}, {"path": "b.avi", "rank": 1}, ...]}: each video's
true class, either a class index ("label") or the class the network ranks "rank"-th (0 = first) by the
video's score, so a test can file videos where the answer is known to be a hit or a miss.

The pipeline of train.py's evaluate with its test-time data: one VideoClips over all the videos (PyAV
decoding, resampling to --frame-rate, every --clip-len window a clip), UniformClipSampler(--clips), the
VideoClassification preset (resize 128x171, center crop 112, normalize), batches of --batch-size clips
that span videos, the export in eval mode frozen and optimized for inference (as torchvideo loads it),
clip accuracy as utils.accuracy (torch.topk of each clip's logits), video score = the clips' softmax
summed, video accuracy as utils.accuracy of the scores.

--crops 3: MMAction2's ThreeCrop at test time: each clip's resized frames give three 112x112 views along
the long side (left edge, torchvision's centre-crop offsets, right edge; vertically centred as the centre
crop is), a clip's score is its views' softmax averaged (and its clip accuracy the top-k of that score),
a video's score the sum of its clips' scores.

Writes each video's mean clip softmax (videos x classes, raw float32, spec order) to --output and prints
on stdout one JSON line: {"labels": [...], "clips": n, "videos": n, "clipHits1", "clipHits5",
"videoHits1", "videoHits5", "clipAcc1", "clipAcc5", "videoAcc1", "videoAcc5", "clipsPerVideo": [...]}.
"""
import argparse
import json
import warnings

import torch
import torchvision.transforms.functional as F
from torchvision.datasets.samplers.clip_sampler import UniformClipSampler
from torchvision.datasets.video_utils import VideoClips
from torchvision.transforms._presets import VideoClassification


def topk_hits(output, target, k):
    """utils.accuracy's count: rows whose target is among torch.topk(output, k)."""
    _, pred = output.topk(min(k, output.shape[1]), 1, True, True)
    return int(pred.eq(target.view(-1, 1)).any(dim=1).sum().item())


def three_crop_views(transform, video):
    """VideoClassification's steps with ThreeCrop in place of the centre crop: (3, C, T, 112, 112)."""
    resized = F.resize(video, list(transform.resize_size), interpolation=transform.interpolation)
    height, width = resized.shape[-2:]
    crop = transform.crop_size[0]
    top = int(round((height - crop) / 2.0))
    centre = int(round((width - crop) / 2.0))
    views = []
    for left in (0, centre, width - crop):
        view = F.convert_image_dtype(resized[..., top : top + crop, left : left + crop], torch.float)
        view = F.normalize(view, mean=transform.mean, std=transform.std)
        views.append(view.permute(1, 0, 2, 3))  # TCHW -> CTHW
    return torch.stack(views)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--frame-rate", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crops", type=int, default=1, choices=[1, 3])
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with open(args.spec) as f:
        spec = json.load(f)["videos"]
    paths = [v["path"] for v in spec]

    # int8 exports are quantized for oneDNN (Debian's build has no FBGEMM), as torchvideo runs them.
    if "onednn" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "onednn"
    model = torch.jit.load(args.model, map_location="cpu").eval()
    model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
    transform = VideoClassification(crop_size=(112, 112), resize_size=(128, 171))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyAV/torchvision deprecation chatter
        video_clips = VideoClips(paths, args.clip_len, 1, frame_rate=args.frame_rate, output_format="TCHW")
        order = list(UniformClipSampler(video_clips, args.clips))
        num_classes = None
        scores = None  # summed softmax per video
        clip_logits = [[] for _ in paths]
        with torch.inference_mode():
            for start in range(0, len(order), args.batch_size):
                batch, owners = [], []
                for idx in order[start : start + args.batch_size]:
                    video, _, _, video_idx = video_clips.get_clip(idx)
                    if args.crops == 3:
                        batch.extend(three_crop_views(transform, video))
                    else:
                        batch.append(transform(video))
                    owners.append(video_idx)
                output = model(torch.stack(batch))
                if scores is None:
                    num_classes = output.shape[1]
                    scores = torch.zeros(len(paths), num_classes, dtype=torch.float64)
                preds = torch.softmax(output, dim=1)
                if args.crops == 3:
                    # A clip's score is its views' mean softmax; clip accuracy ranks that score.
                    preds = preds.view(len(owners), 3, -1).mean(dim=1)
                    output = preds
                for b, video_idx in enumerate(owners):
                    scores[video_idx] += preds[b].double()
                    clip_logits[video_idx].append(output[b].clone())

    # True classes: given, or the class the network ranks rank-th for that video.
    labels = []
    for i, v in enumerate(spec):
        if "label" in v:
            labels.append(int(v["label"]))
        else:
            labels.append(int(torch.argsort(scores[i], descending=True)[v["rank"]].item()))

    clip_hits1 = clip_hits5 = clips = 0
    for i, logits in enumerate(clip_logits):
        if not logits:
            continue
        output = torch.stack(logits)
        target = torch.full((output.shape[0],), labels[i], dtype=torch.long)
        clip_hits1 += topk_hits(output, target, 1)
        clip_hits5 += topk_hits(output, target, 5)
        clips += output.shape[0]
    counted = [i for i, logits in enumerate(clip_logits) if logits]
    target = torch.tensor([labels[i] for i in counted], dtype=torch.long)
    video_scores = scores[counted]
    video_hits1 = topk_hits(video_scores, target, 1)
    video_hits5 = topk_hits(video_scores, target, 5)

    means = torch.stack([scores[i] / max(len(clip_logits[i]), 1) for i in range(len(paths))])
    means.float().numpy().astype("<f4").tofile(args.output)
    print(
        json.dumps(
            {
                "labels": labels,
                "clips": clips,
                "videos": len(counted),
                "clipHits1": clip_hits1,
                "clipHits5": clip_hits5,
                "videoHits1": video_hits1,
                "videoHits5": video_hits5,
                "clipAcc1": clip_hits1 / clips,
                "clipAcc5": clip_hits5 / clips,
                "videoAcc1": video_hits1 / len(counted),
                "videoAcc5": video_hits5 / len(counted),
                "clipsPerVideo": [len(c) for c in clip_logits],
            }
        )
    )


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""torchvision's references/video_classification evaluate() metrics and MMAction2's, the reference for
src/eval/metrics.ts.

Usage: /usr/bin/python3 test/py/ref_metrics.py --logits L.bin --clips 3,1,5 --labels 2,0,7
                                               --classes 10 --output probs.bin

L.bin holds every clip's logits as raw float32, videos in order. Clip accuracy is torchvision's
utils.accuracy on the logits (torch.topk); a video's score is the float32 sum of its clips' softmax
(evaluate()'s agg_preds), ranked with torch.topk. top-5 is top-min(5, classes). Writes the videos' mean
probabilities as raw float32 and prints the metrics as JSON: mean_class_acc1 over the classes that have
videos, and mmaction2_mean_class_acc, MMAction2's mean_class_accuracy verbatim (it also averages in a 0
for each class predicted but without videos).
"""
import argparse
import json

import numpy as np
import torch


def topk_correct(scores, target, k):
    """Per row, whether its target is among the top-k, as torchvision's utils.accuracy finds it."""
    _, pred = scores.topk(k, 1, True, True)
    return pred.eq(target[:, None]).any(dim=1).long()


def mmaction2_mean_class_accuracy(scores, labels):
    """MMAction2's mean_class_accuracy and its confusion_matrix (rows = true class), verbatim."""
    pred = np.argmax(scores, axis=1)
    label_set = np.unique(np.concatenate((pred, labels)))
    label_map = np.zeros(label_set[-1] + 1, dtype=np.int64)
    for i, label in enumerate(label_set):
        label_map[label] = i
    n = len(label_set)
    cf_mat = np.bincount(n * label_map[labels] + label_map[pred], minlength=n**2).reshape(n, n)
    cf_mat = cf_mat.astype(float)
    cls_cnt = cf_mat.sum(axis=1)
    cls_hit = np.diag(cf_mat)
    return float(np.mean([hit / cnt if cnt else 0.0 for cnt, hit in zip(cls_cnt, cls_hit)]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logits", required=True)
    parser.add_argument("--clips", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--classes", type=int, required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    clips = [int(c) for c in args.clips.split(",")]
    labels = torch.tensor([int(c) for c in args.labels.split(",")])
    num_classes = args.classes
    k5 = min(5, num_classes)

    logits = torch.from_numpy(np.fromfile(args.logits, dtype="<f4")).reshape(-1, num_classes)
    assert logits.shape[0] == sum(clips)
    video_of_clip = torch.repeat_interleave(torch.arange(len(clips)), torch.tensor(clips))
    clip_target = labels[video_of_clip]
    probs = torch.softmax(logits, dim=1)
    agg = torch.zeros(len(clips), num_classes)
    agg.index_add_(0, video_of_clip, probs)

    # Per video, its clips' hits (the video's share of evaluate()'s clip accuracy).
    per_video = torch.zeros(len(clips), dtype=torch.long)
    clip_hits1 = per_video.index_add(0, video_of_clip, topk_correct(logits, clip_target, 1))
    clip_hits5 = per_video.index_add(0, video_of_clip, topk_correct(logits, clip_target, k5))

    pred = agg.argmax(dim=1).numpy()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels.numpy(), pred), 1)
    videos = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / videos[c]) if videos[c] else None for c in range(num_classes)]
    present = [a for a in per_class if a is not None]

    (agg / torch.tensor(clips, dtype=torch.float32)[:, None]).numpy().astype("<f4").tofile(args.output)
    print(
        json.dumps(
            {
                "clips": sum(clips),
                "videos": len(clips),
                "clip_acc1": int(clip_hits1.sum()) / sum(clips),
                "clip_acc5": int(clip_hits5.sum()) / sum(clips),
                "video_acc1": int(topk_correct(agg, labels, 1).sum()) / len(clips),
                "video_acc5": int(topk_correct(agg, labels, k5).sum()) / len(clips),
                "clip_hits1": clip_hits1.tolist(),
                "clip_hits5": clip_hits5.tolist(),
                "mean_class_acc1": sum(present) / len(present),
                "mmaction2_mean_class_acc": mmaction2_mean_class_accuracy(agg.numpy(), labels.numpy()),
                "per_class_acc1": per_class,
                "confusion": confusion.tolist(),
            }
        )
    )


if __name__ == "__main__":
    main()

// torchvision's video classification preprocessing (transforms._presets.VideoClassification, the
// eval transform of r3d_18 / mc3_18 / r2plus1d_18), and the training preset (VideoClassificationPresetTrain)
// with random draws the caller makes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "cpp/video/preprocessing_defaults.h"

namespace torchvideo {

constexpr std::array<float, 3> asFloats(const std::array<double, 3>& values) {
  return {static_cast<float>(values[0]), static_cast<float>(values[1]), static_cast<float>(values[2])};
}

// One training clip's random draws, made by the caller (the training sampler, from its seed and epoch,
// so an epoch replays exactly): a horizontal flip, then a crop at (top, left) of the resized frames.
struct TrainDraw {
  int64_t top = 0, left = 0;
  bool flip = false;
};

struct PreprocessOptions {
  int resizeHeight = defaults::kResizeHeight, resizeWidth = defaults::kResizeWidth, cropSize = defaults::kCropSize;
  std::array<float, 3> mean = asFloats(defaults::kMean), std = asFloats(defaults::kStd);
  // Views per clip (evaluation only): 1, the centre crop; 3, MMAction2's ThreeCrop: left, centre and
  // right crops along the long side of the resized frame (top, centre, bottom when it is portrait),
  // centred across the short side. The centre view is exactly the single centre crop.
  int crops = 1;
  // Non-empty: torchvision's training preset (references/video_classification VideoClassificationPresetTrain)
  // with these draws, one per clip, instead of the evaluation transform. See preprocessTrainClips.
  std::vector<TrainDraw> trainDraws;
};

// frames: uint8 (T, H, W, 3) RGB. Returns float32 (3, T, crop, crop), contiguous:
// resize to exactly resizeHeight x resizeWidth (bilinear, no antialias, rounded back to uint8 as
// torchvision's tensor resize does), crop, /255, normalize with mean/std. With one training draw
// (options.trainDraws), the training preset instead (preprocessTrainClips).
// Error::type when frames isn't uint8; Error::range for a bad shape or bad options.
torch::Tensor preprocessClip(const torch::Tensor& frames, const PreprocessOptions& options);

// The same for N clips at once, on whatever device `frames` lives (the CPU, or a GPU when evaluation
// preprocesses on the device): uint8 (N, T, H, W, 3) -> float32 (N * crops, 3, T, crop, crop), clip
// by clip, each clip's views together.
torch::Tensor preprocessClips(const torch::Tensor& frames, const PreprocessOptions& options);

// torchvision's VideoClassificationPresetTrain on N clips, uint8 (N, T, H, W, 3), with the draws given
// (options.trainDraws, one per clip): ConvertImageDtype (float, / 255), Resize to exactly
// resizeHeight x resizeWidth (bilinear, no antialias, in float: not rounded back to uint8, unlike the
// evaluation transform), the flip, Normalize, the crop; returns float32 (N, 3, T, crop, crop).
// Error::range for a draw count other than N or a crop outside the resized frame.
torch::Tensor preprocessTrainClips(const torch::Tensor& frames, const PreprocessOptions& options);

}  // namespace torchvideo

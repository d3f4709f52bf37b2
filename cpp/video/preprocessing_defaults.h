// torchvision's preprocessing for r3d_18 / mc3_18 / r2plus1d_18, in one place: the C++ defaults use
// these, the binding hands them to TypeScript (the API's defaults), and scripts/export_models.py
// checks torchvision's own preset against this file before writing a sidecar.
#pragma once

#include <array>

namespace torchvideo::defaults {

// Frames per clip and the rate clips are sampled at (torchvision's VideoClips, the seed's recipe).
inline constexpr int kClipLength = 16;
inline constexpr double kFrameRate = 15;
// Evenly spaced clips per video for classification and evaluation (UniformClipSampler).
inline constexpr int kClipsPerVideo = 5;
// VideoClassification(crop_size=(112, 112), resize_size=(128, 171)).
inline constexpr int kResizeHeight = 128;
inline constexpr int kResizeWidth = 171;
inline constexpr int kCropSize = 112;
// As torchvision writes them (Python floats); the transform itself computes in float32.
inline constexpr std::array<double, 3> kMean{0.43216, 0.394666, 0.37645};
inline constexpr std::array<double, 3> kStd{0.22803, 0.22145, 0.216989};

}  // namespace torchvideo::defaults

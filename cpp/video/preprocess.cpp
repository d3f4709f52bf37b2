#include "cpp/video/preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <torch/torch.h>

#include "cpp/errors.h"
#include "cpp/shape_text.h"

namespace torchvideo {

namespace {

// Pixels resized per step (about 4 frames of 720p, a whole clip of 320x240).
constexpr int64_t kResizePixelsPerChunk = 4 * 1024 * 1024;

void checkFrames(const torch::Tensor& frames, bool oneClip) {
  const std::string layout = oneClip ? "(T, H, W, 3)" : "(N, T, H, W, 3)";
  if (!frames.defined()) throw Error::type("frames must be a uint8 tensor " + layout + ", got an undefined tensor");
  if (frames.scalar_type() != torch::kUInt8) {
    throw Error::type("frames must be a uint8 tensor " + layout + ", got dtype " +
                      std::string(c10::toString(frames.scalar_type())) + " with shape " + shapeText(frames.sizes()));
  }
  if (frames.dim() != (oneClip ? 4 : 5) || frames.size(-1) != 3) {
    throw Error::range("frames must have shape " + layout + ", got " + shapeText(frames.sizes()));
  }
  if (frames.numel() == 0) throw Error::range("frames must not be empty, got shape " + shapeText(frames.sizes()));
}

void checkOptions(const PreprocessOptions& o) {
  if (o.resizeHeight <= 0 || o.resizeWidth <= 0 || o.cropSize <= 0) {
    throw Error::range("resize and crop sizes must be positive, got resize " + std::to_string(o.resizeHeight) + "x" +
                       std::to_string(o.resizeWidth) + " and crop " + std::to_string(o.cropSize));
  }
  for (float s : o.std) {
    if (s == 0.0f) throw Error::range("std must not contain 0 (normalize divides by it)");
  }
  if (o.crops != 1 && o.crops != 3) throw Error::range("crops must be 1 or 3, got " + std::to_string(o.crops));
  if (o.crops == 3 && !o.trainDraws.empty()) {
    throw Error::range("crops 3 (ThreeCrop) is an evaluation transform, not for training");
  }
  if (o.crops == 3 && (o.cropSize > o.resizeHeight || o.cropSize > o.resizeWidth)) {
    throw Error::range("cropSize " + std::to_string(o.cropSize) + " is larger than the resized frame " +
                       std::to_string(o.resizeHeight) + "x" + std::to_string(o.resizeWidth));
  }
}

// torchvision F.center_crop on (N, C, H, W): zero padding when the crop is larger than the
// image, then offsets int(round((size - crop) / 2.0)) (Python rounds half to even).
torch::Tensor centerCrop(torch::Tensor x, int64_t crop) {
  const int64_t h = x.size(2), w = x.size(3);
  if (crop > h || crop > w) {
    const int64_t padL = crop > w ? (crop - w) / 2 : 0, padR = crop > w ? (crop - w + 1) / 2 : 0;
    const int64_t padT = crop > h ? (crop - h) / 2 : 0, padB = crop > h ? (crop - h + 1) / 2 : 0;
    x = torch::constant_pad_nd(x, {padL, padR, padT, padB}, 0);
    if (x.size(2) == crop && x.size(3) == crop) return x;
  }
  const auto top = static_cast<int64_t>(std::nearbyint((x.size(2) - crop) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((x.size(3) - crop) / 2.0));
  return x.slice(2, top, top + crop).slice(3, left, left + crop);
}

// F.resize of every frame: (F, H, W, 3) uint8 -> (F, 3, h, w) uint8.
// (F, H, W, C) -> (F, C, H, W) as a view, the way torchvision datasets hand clips to the transform.
// The float copy keeps those (channels-last) strides, so interpolate runs the same kernel as in
// Python and the float sums round the same way. Float interpolate (bilinear, align_corners=False, no
// antialias), then round and cast back to uint8; no clamp: bilinear output stays within [0, 255].
// Large frames go a few at a time: each frame is resized on its own, so the result is the same, and
// the float copy of a 720p clip (177 MB) shrinks to a few tens of MB that stay reusable.
torch::Tensor resizeFrames(const torch::Tensor& frames, const PreprocessOptions& options) {
  const int64_t frameCount = frames.size(0);
  const int64_t pixelsPerFrame = frames.size(1) * frames.size(2);
  const int64_t chunk = std::max<int64_t>(1, kResizePixelsPerChunk / std::max<int64_t>(1, pixelsPerFrame));
  std::vector<torch::Tensor> resized;
  for (int64_t start = 0; start < frameCount; start += chunk) {
    auto part = frames.slice(0, start, std::min(frameCount, start + chunk)).permute({0, 3, 1, 2}).to(torch::kFloat32);
    part = torch::upsample_bilinear2d(part, {options.resizeHeight, options.resizeWidth}, /*align_corners=*/false);
    resized.push_back(torch::round(part).to(torch::kUInt8));
  }
  return resized.size() == 1 ? resized.front() : torch::cat(resized);
}

// ThreeCrop: the centre crop (torchvision's offsets) and the two crops at the ends of the long side.
std::vector<torch::Tensor> threeCrops(const torch::Tensor& clip, int64_t crop) {
  const int64_t h = clip.size(2), w = clip.size(3);
  const auto centreTop = static_cast<int64_t>(std::nearbyint((h - crop) / 2.0));
  const auto centreLeft = static_cast<int64_t>(std::nearbyint((w - crop) / 2.0));
  std::vector<std::pair<int64_t, int64_t>> offsets;  // (top, left)
  if (w >= h) {
    offsets = {{centreTop, 0}, {centreTop, centreLeft}, {centreTop, w - crop}};
  } else {
    offsets = {{0, centreLeft}, {centreTop, centreLeft}, {h - crop, centreLeft}};
  }
  std::vector<torch::Tensor> views;
  for (const auto& [top, left] : offsets) views.push_back(clip.slice(2, top, top + crop).slice(3, left, left + crop));
  return views;
}

}  // namespace

torch::Tensor preprocessClips(const torch::Tensor& frames, const PreprocessOptions& options) {
  checkFrames(frames, /*oneClip=*/false);
  checkOptions(options);
  torch::NoGradGuard noGrad;
  const int64_t clips = frames.size(0), length = frames.size(1);
  const auto resized = resizeFrames(frames.flatten(0, 1), options);
  const auto perClip = resized.view({clips, length, 3, options.resizeHeight, options.resizeWidth});

  std::vector<torch::Tensor> views;
  for (int64_t i = 0; i < clips; ++i) {
    const auto clip = perClip[i];  // (T, 3, h, w)
    if (options.crops == 3) {
      for (auto& view : threeCrops(clip, options.cropSize)) views.push_back(std::move(view));
    } else {
      views.push_back(centerCrop(clip, options.cropSize));
    }
  }
  // convert_image_dtype: to float, then divide by 255 (a division, not a multiply by 1/255).
  auto x = torch::stack(views).to(torch::kFloat32).div(255.0);  // (N * views, T, 3, crop, crop)
  const auto onDevice = torch::TensorOptions().device(frames.device());
  auto mean =
      torch::tensor(std::vector<float>(options.mean.begin(), options.mean.end()), onDevice).view({1, 1, 3, 1, 1});
  auto stdev =
      torch::tensor(std::vector<float>(options.std.begin(), options.std.end()), onDevice).view({1, 1, 3, 1, 1});
  x = x.sub(mean).div(stdev);
  // (N, T, C, H, W) -> (N, C, T, H, W)
  return x.permute({0, 2, 1, 3, 4}).contiguous();
}

torch::Tensor preprocessTrainClips(const torch::Tensor& frames, const PreprocessOptions& options) {
  checkFrames(frames, /*oneClip=*/false);
  checkOptions(options);
  const int64_t clips = frames.size(0), length = frames.size(1), crop = options.cropSize;
  if (static_cast<int64_t>(options.trainDraws.size()) != clips) {
    throw Error::range("expected one training draw per clip: " + std::to_string(clips) + " clips, " +
                       std::to_string(options.trainDraws.size()) + " draws");
  }
  for (size_t i = 0; i < options.trainDraws.size(); ++i) {
    const auto& draw = options.trainDraws[i];
    if (draw.top < 0 || draw.left < 0 || draw.top + crop > options.resizeHeight ||
        draw.left + crop > options.resizeWidth) {
      throw Error::range("training draw " + std::to_string(i) + " crops " + std::to_string(crop) + "x" +
                         std::to_string(crop) + " at (" + std::to_string(draw.top) + ", " + std::to_string(draw.left) +
                         "), outside the resized " + std::to_string(options.resizeHeight) + "x" +
                         std::to_string(options.resizeWidth) + " frame");
    }
  }
  torch::NoGradGuard noGrad;
  // (N*T, H, W, C) -> (N*T, C, H, W) as a view: the float copy keeps channels-last strides, as the
  // permuted uint8 clip torchvision's dataset hands to ConvertImageDtype does.
  const auto asFloat = frames.flatten(0, 1).permute({0, 3, 1, 2}).to(torch::kFloat32).div(255.0);
  const auto resized = torch::upsample_bilinear2d(asFloat, {options.resizeHeight, options.resizeWidth}, false)
                           .view({clips, length, 3, options.resizeHeight, options.resizeWidth});
  std::vector<torch::Tensor> views;
  for (int64_t i = 0; i < clips; ++i) {
    const auto& draw = options.trainDraws[i];
    auto clip = resized[i];  // (T, 3, h, w)
    if (draw.flip) clip = clip.flip({3});
    // Normalize is elementwise: cropping first gives the same values for less work.
    views.push_back(clip.slice(2, draw.top, draw.top + crop).slice(3, draw.left, draw.left + crop));
  }
  const auto onDevice = torch::TensorOptions().device(frames.device());
  auto mean =
      torch::tensor(std::vector<float>(options.mean.begin(), options.mean.end()), onDevice).view({1, 1, 3, 1, 1});
  auto stdev =
      torch::tensor(std::vector<float>(options.std.begin(), options.std.end()), onDevice).view({1, 1, 3, 1, 1});
  return torch::stack(views).sub(mean).div(stdev).permute({0, 2, 1, 3, 4}).contiguous();
}

torch::Tensor preprocessClip(const torch::Tensor& frames, const PreprocessOptions& options) {
  checkFrames(frames, /*oneClip=*/true);
  if (options.crops != 1)
    throw Error::range("a single clip is preprocessed with crops 1, got " + std::to_string(options.crops));
  // One clip, one draw: the training preset, the same transform fineTune's batches get.
  if (!options.trainDraws.empty()) return preprocessTrainClips(frames.unsqueeze(0), options)[0];
  return preprocessClips(frames.unsqueeze(0), options)[0];
}

}  // namespace torchvideo

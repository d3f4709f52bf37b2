#include "cpp/video/preprocess.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>

#include <torch/torch.h>

#include "cpp/errors.h"

namespace torchvideo {

namespace {

// Pixels resized per step (about 4 frames of 720p, a whole clip of 320x240).
constexpr int64_t kResizePixelsPerChunk = 4 * 1024 * 1024;

std::string shapeOf(const torch::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? ", " : "") << t.size(d);
  s << "]";
  return s.str();
}

void checkInputs(const torch::Tensor& frames, const PreprocessOptions& o) {
  if (!frames.defined()) throw Error::type("frames must be a uint8 tensor (T, H, W, 3), got an undefined tensor");
  if (frames.scalar_type() != torch::kUInt8) {
    throw Error::type("frames must be a uint8 tensor (T, H, W, 3), got dtype " +
                      std::string(c10::toString(frames.scalar_type())) + " with shape " + shapeOf(frames));
  }
  if (frames.dim() != 4 || frames.size(3) != 3) {
    throw Error::range("frames must have shape (T, H, W, 3), got " + shapeOf(frames));
  }
  if (frames.numel() == 0) throw Error::range("frames must not be empty, got shape " + shapeOf(frames));
  if (o.resizeHeight <= 0 || o.resizeWidth <= 0 || o.cropSize <= 0) {
    throw Error::range("resize and crop sizes must be positive, got resize " + std::to_string(o.resizeHeight) + "x" +
                       std::to_string(o.resizeWidth) + " and crop " + std::to_string(o.cropSize));
  }
  for (float s : o.std) {
    if (s == 0.0f) throw Error::range("std must not contain 0 (normalize divides by it)");
  }
  if (o.train && (o.cropSize > o.resizeHeight || o.cropSize > o.resizeWidth)) {
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

}  // namespace

torch::Tensor preprocessClip(const torch::Tensor& frames, const PreprocessOptions& options) {
  checkInputs(frames, options);
  torch::NoGradGuard noGrad;
  const int64_t crop = options.cropSize;

  // (T, H, W, C) -> (T, C, H, W) as a view, the way torchvision datasets hand clips to the
  // transform. The float copy keeps those (channels-last) strides, so interpolate runs the same
  // kernel as in Python and the float sums round the same way.
  // F.resize: float interpolate (bilinear, align_corners=False, no antialias), then round and
  // cast back to uint8. No clamp: bilinear output stays within [0, 255].
  // Large frames go a few at a time: each frame is resized on its own, so the result is the same,
  // and the float copy of a 720p clip (177 MB) shrinks to a few tens of MB that stay reusable.
  const int64_t frameCount = frames.size(0);
  const int64_t pixelsPerFrame = frames.size(1) * frames.size(2);
  const int64_t chunk = std::max<int64_t>(1, kResizePixelsPerChunk / std::max<int64_t>(1, pixelsPerFrame));
  std::vector<torch::Tensor> resized;
  for (int64_t start = 0; start < frameCount; start += chunk) {
    auto part = frames.slice(0, start, std::min(frameCount, start + chunk)).permute({0, 3, 1, 2}).to(torch::kFloat32);
    part = torch::upsample_bilinear2d(part, {options.resizeHeight, options.resizeWidth}, /*align_corners=*/false);
    resized.push_back(torch::round(part).to(torch::kUInt8));
  }
  torch::Tensor x = resized.size() == 1 ? resized.front() : torch::cat(resized);
  if (options.train) {
    std::mt19937_64 rng(options.hasSeed
                            ? options.seed
                            : (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}());
    // RandomCrop.get_params: offsets uniform in [0, h - th] and [0, w - tw]; then p = 0.5 flip.
    std::uniform_int_distribution<int64_t> top(0, options.resizeHeight - crop);
    std::uniform_int_distribution<int64_t> left(0, options.resizeWidth - crop);
    const int64_t t = top(rng), l = left(rng);
    const bool flip = std::uniform_real_distribution<double>(0.0, 1.0)(rng) < 0.5;
    x = x.slice(2, t, t + crop).slice(3, l, l + crop);
    if (flip) x = x.flip({3});
  } else {
    x = centerCrop(x, crop);
  }

  // convert_image_dtype: to float, then divide by 255 (a division, not a multiply by 1/255).
  x = x.to(torch::kFloat32).div(255.0);
  auto mean = torch::tensor(std::vector<float>(options.mean.begin(), options.mean.end())).view({1, 3, 1, 1});
  auto stdev = torch::tensor(std::vector<float>(options.std.begin(), options.std.end())).view({1, 3, 1, 1});
  x = x.sub(mean).div(stdev);
  // (T, C, H, W) -> (C, T, H, W)
  return x.permute({1, 0, 2, 3}).contiguous();
}

}  // namespace torchvideo

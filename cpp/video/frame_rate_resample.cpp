#include "cpp/video/frame_rate_resample.h"

#include <cmath>
#include <numeric>
#include <string>

#include <torch/torch.h>

#include "cpp/errors.h"

namespace torchvideo {

std::vector<int64_t> resampleFrameIndices(int64_t frameCount, double fps, double targetFps) {
  if (frameCount < 0) throw Error::range("frameCount must be >= 0, got " + std::to_string(frameCount));
  std::vector<int64_t> all(static_cast<size_t>(frameCount));
  std::iota(all.begin(), all.end(), int64_t{0});
  if (!(targetFps > 0)) return all;
  if (!(fps > 0) || !std::isfinite(fps) || !std::isfinite(targetFps)) {
    throw Error::range("fps must be a positive number to resample to " + std::to_string(targetFps) + " fps, got " +
                       std::to_string(fps));
  }

  const double step = fps / targetFps;
  if (std::floor(step) == step) {
    // torchvision returns slice(None, None, step) here, applied to every frame of the video.
    const auto s = static_cast<int64_t>(step);
    std::vector<int64_t> out;
    out.reserve(static_cast<size_t>((frameCount + s - 1) / s));
    for (int64_t i = 0; i < frameCount; i += s) out.push_back(i);
    return out;
  }
  // Same expression order as torchvision: len(video_pts) * (float(frame_rate) / fps).
  const auto total = static_cast<int64_t>(std::floor(static_cast<double>(frameCount) * (targetFps / fps)));
  // float32 arange times a double scalar: LibTorch casts the scalar to float32, as PyTorch does,
  // and the float32 rounding decides which frame a boundary falls on, so it stays in LibTorch.
  torch::Tensor idx = (torch::arange(total, torch::TensorOptions().dtype(torch::kFloat32)) * step)
                          .floor()
                          .to(torch::kInt64)
                          .contiguous();
  const int64_t* p = idx.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + idx.numel());
}

}  // namespace torchvideo

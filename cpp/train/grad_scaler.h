// Dynamic loss scaling for float16 training on CUDA, as torch.cuda.amp.GradScaler does it: the loss
// is multiplied by `scale` before backward so small float16 gradients don't flush to zero; the
// gradients are divided back before the optimizer sees them; a step whose gradients hold Inf/NaN is
// skipped and the scale halved; after `growthInterval` clean steps in a row the scale doubles.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace torchvideo {

class GradScaler {
 public:
  // GradScaler's defaults.
  static constexpr double kInitScale = 65536.0;  // 2^16
  static constexpr double kGrowthFactor = 2.0;
  static constexpr double kBackoffFactor = 0.5;
  static constexpr int64_t kGrowthInterval = 2000;

  explicit GradScaler(const torch::Device& device);

  torch::Tensor scale(const torch::Tensor& loss) const;
  // Divides `gradients` by the scale in place and records whether any element is Inf/NaN. Returns
  // true when they are all finite, i.e. when the optimizer step may run.
  bool unscale(const std::vector<torch::Tensor>& gradients);
  // Grows or backs off the scale after the step (or the skipped step) of the last unscale().
  void update();

  // Checkpoint state: the scale (float32, 1 element) and the count of clean steps since it changed
  // (int32, 1 element), on the scaler's device.
  const torch::Tensor& scaleTensor() const { return scale_; }
  const torch::Tensor& growthTracker() const { return growthTracker_; }
  void setState(const torch::Tensor& scale, const torch::Tensor& growthTracker);

 private:
  torch::Tensor scale_;
  torch::Tensor growthTracker_;
  torch::Tensor foundInf_;
};

}  // namespace torchvideo

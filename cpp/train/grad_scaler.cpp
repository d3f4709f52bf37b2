#include "cpp/train/grad_scaler.h"

namespace torchvideo {

GradScaler::GradScaler(const torch::Device& device)
    : scale_(torch::full({1}, kInitScale, torch::TensorOptions().dtype(torch::kFloat32).device(device))),
      growthTracker_(torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt32).device(device))),
      foundInf_(torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat32).device(device))) {}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) const { return loss * scale_.to(loss.scalar_type()); }

bool GradScaler::unscale(const std::vector<torch::Tensor>& gradients) {
  torch::NoGradGuard noGrad;
  // GradScaler computes the inverse in double, then rounds it to float once.
  const auto inverseScale = scale_.to(torch::kFloat64).reciprocal().to(torch::kFloat32);
  foundInf_.zero_();
  if (!gradients.empty()) at::_amp_foreach_non_finite_check_and_unscale_(gradients, foundInf_, inverseScale);
  return foundInf_.item<float>() == 0.0f;
}

void GradScaler::update() {
  torch::NoGradGuard noGrad;
  at::_amp_update_scale_(scale_, growthTracker_, foundInf_, kGrowthFactor, kBackoffFactor, kGrowthInterval);
}

void GradScaler::setState(const torch::Tensor& scale, const torch::Tensor& growthTracker) {
  scale_ = scale.to(scale_.device(), torch::kFloat32).clone();
  growthTracker_ = growthTracker.to(growthTracker_.device(), torch::kInt32).clone();
}

}  // namespace torchvideo

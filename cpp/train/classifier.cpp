#include "cpp/train/classifier.h"

#include <cmath>

#include "cpp/errors.h"

namespace torchvideo {
namespace {

bool hasLinearClassifier(const torch::jit::Module& module) {
  if (!module.hasattr("fc") || !module.attr("fc").isModule()) return false;
  const auto fc = module.attr("fc").toModule();
  if (!fc.hasattr("weight") || !fc.hasattr("bias")) return false;
  const auto weight = fc.attr("weight");
  return weight.isTensor() && weight.toTensor().dim() == 2 && fc.attr("bias").isTensor();
}

}  // namespace

int64_t classifierClasses(const torch::jit::Module& module) {
  if (!hasLinearClassifier(module)) return -1;
  return module.attr("fc").toModule().attr("weight").toTensor().size(0);
}

void replaceClassifier(torch::jit::Module& module, int64_t numClasses, at::Generator& generator) {
  if (!hasLinearClassifier(module)) {
    throw Error::torchvideo(codes::kModelLoad,
                            "cannot change the number of classes: the model has no final Linear layer 'fc' with a "
                            "weight and a bias");
  }
  auto fc = module.attr("fc").toModule();
  const auto oldWeight = fc.attr("weight").toTensor();
  const int64_t inFeatures = oldWeight.size(1);
  // torch.nn.init.kaiming_uniform_(a=sqrt(5)), computed in the same steps so the bound rounds the
  // same: gain = sqrt(2 / (1 + a^2)), std = gain / sqrt(fan_in), bound = sqrt(3) * std.
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1 + a * a));
  const double weightBound = std::sqrt(3.0) * (gain / std::sqrt(static_cast<double>(inFeatures)));
  const double biasBound = 1 / std::sqrt(static_cast<double>(inFeatures));
  const auto cpuFloat = torch::TensorOptions().dtype(oldWeight.scalar_type()).device(torch::kCPU);
  torch::NoGradGuard noGrad;
  auto weight = torch::empty({numClasses, inFeatures}, cpuFloat).uniform_(-weightBound, weightBound, generator);
  auto bias = torch::empty({numClasses}, cpuFloat).uniform_(-biasBound, biasBound, generator);
  fc.setattr("weight", weight.to(oldWeight.device()).requires_grad_(true));
  fc.setattr("bias", bias.to(oldWeight.device()).requires_grad_(true));
  // torchvision's scripted Linear declares out_features a constant of its class (__constants__),
  // which cannot change: only a module that keeps it as an attribute gets the new count.
  if (fc.type()->hasAttribute("out_features")) fc.setattr("out_features", numClasses);
}

}  // namespace torchvideo

#include "cpp/train/sgd.h"

#include "cpp/errors.h"

namespace torchvideo {

Sgd::Sgd(std::vector<torch::Tensor> parameters, double momentum, double weightDecay)
    : parameters_(std::move(parameters)),
      momentumBuffers_(parameters_.size()),
      momentum_(momentum),
      weightDecay_(weightDecay) {}

void Sgd::zeroGrad() {
  for (auto& parameter : parameters_) parameter.mutable_grad() = torch::Tensor();
}

std::vector<torch::Tensor> Sgd::gradients() const {
  std::vector<torch::Tensor> gradients;
  for (const auto& parameter : parameters_) {
    if (parameter.grad().defined()) gradients.push_back(parameter.grad());
  }
  return gradients;
}

void Sgd::step(double lr) {
  torch::NoGradGuard noGrad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    auto& parameter = parameters_[i];
    if (!parameter.grad().defined()) continue;
    // The same operations, in the same order, as torch.optim.sgd's _single_tensor_sgd, so the
    // rounding matches too.
    auto step = parameter.grad();
    if (weightDecay_ != 0) step = step.add(parameter, weightDecay_);
    if (momentum_ != 0) {
      auto& buffer = momentumBuffers_[i];
      if (!buffer.defined()) {
        buffer = torch::clone(step).detach();
      } else {
        buffer.mul_(momentum_).add_(step, /*alpha=*/1);
      }
      step = buffer;
    }
    parameter.add_(step, -lr);
  }
}

void Sgd::setMomentumBuffers(std::vector<torch::Tensor> buffers) {
  if (buffers.size() != parameters_.size()) {
    throw Error::torchvideo(codes::kCheckpoint, "the checkpoint holds " + std::to_string(buffers.size()) +
                                                    " momentum buffers for " + std::to_string(parameters_.size()) +
                                                    " trained parameters");
  }
  // A buffer of another shape or dtype would fail (or broadcast) in the first step after the restore:
  // refused here, named by index.
  for (size_t i = 0; i < buffers.size(); ++i) {
    const auto& buffer = buffers[i];
    if (!buffer.defined()) continue;
    if (buffer.sizes() != parameters_[i].sizes() || buffer.scalar_type() != parameters_[i].scalar_type()) {
      throw Error::torchvideo(codes::kCheckpoint, "the checkpoint's momentum buffer " + std::to_string(i) +
                                                      " does not match its parameter's shape and dtype");
    }
  }
  momentumBuffers_ = std::move(buffers);
}

}  // namespace torchvideo

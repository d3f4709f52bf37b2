// Stochastic gradient descent with momentum and weight decay, exactly torch.optim.SGD's update with
// one parameter group (dampening 0, no Nesterov):
//   d = grad + weightDecay * p;  buf = d on the first step, else momentum * buf + d;  p -= lr * buf
// Written out rather than torch::optim::SGD so that the momentum buffers are plain tensors in the
// parameters' order, which a checkpoint stores and restores bit for bit.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace torchvideo {

class Sgd {
 public:
  Sgd(std::vector<torch::Tensor> parameters, double momentum, double weightDecay);

  // Drops every gradient (PyTorch's zero_grad(set_to_none=True)): the next backward writes fresh ones.
  void zeroGrad();
  // One update at learning rate `lr`. A parameter without a gradient is skipped, as in PyTorch.
  void step(double lr);

  const std::vector<torch::Tensor>& parameters() const { return parameters_; }
  // Gradients of the parameters that have one, for the loss scaler's unscale-and-check.
  std::vector<torch::Tensor> gradients() const;
  // One per parameter; undefined until that parameter's first update.
  const std::vector<torch::Tensor>& momentumBuffers() const { return momentumBuffers_; }
  // Replaces the buffers (a restored checkpoint): same count and order as parameters().
  void setMomentumBuffers(std::vector<torch::Tensor> buffers);

 private:
  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> momentumBuffers_;
  double momentum_;
  double weightDecay_;
};

}  // namespace torchvideo

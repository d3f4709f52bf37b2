// The final `fc` layer of torchvision's video ResNets, read and replaced inside a TorchScript module.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/script.h>

#include <cstdint>

namespace torchvideo {

// Classes of the module's `fc` (its weight's rows), or -1 when it has no Linear-like `fc`.
int64_t classifierClasses(const torch::jit::Module& module);

// Gives `fc` a new weight (numClasses, inFeatures) and bias (numClasses), initialised as
// torch.nn.Linear's reset_parameters does (kaiming_uniform_(a=sqrt(5)) on the weight, bias uniform in
// +-1/sqrt(fan_in)), drawn from `generator` on the CPU in that order, then moved to fc's device.
// The scripted Linear's forward is F.linear(x, self.weight, self.bias): it follows the new shapes;
// `out_features` is updated where it is an attribute (in torchvision's export it is a class constant,
// which nothing reads in forward).
// Throws TorchVideoError ERR_MODEL_LOAD when the module has no such `fc`.
void replaceClassifier(torch::jit::Module& module, int64_t numClasses, at::Generator& generator);

}  // namespace torchvideo

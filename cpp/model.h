// A TorchScript video classifier loaded for inference: eval mode, optionally frozen and optimized
// for inference, warmed up, on one device.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torchvideo {

struct ModelOptions {
  torch::Device device{torch::kCPU};
  // freeze + optimize_for_inference: folds batch norm into the convolutions and sends every
  // convolution through oneDNN. Measured on 2 cores with OpenBLAS: 1.0-1.9x faster than the plain
  // scripted module at batch 1, 2.6-3x at batch 8 (the plain module sends some convolutions to a
  // slower fallback).
  bool optimize = true;
  // Run the network on zeros at load time: the first calls build the profiling executor's plan and
  // oneDNN's kernels, which would otherwise land on the user's first request.
  bool warmup = true;
  std::vector<int64_t> warmupShape{1, 3, 16, 112, 112};
  // CUDA only: weights and inputs in float16, logits returned as float32.
  bool half = false;
  // LibTorch intra-op threads used by this model's forward passes.
  int intraOpThreads = 1;
};

class Model {
 public:
  // Throws TorchVideoError (ERR_FILE_NOT_FOUND, ERR_NOT_A_FILE, ERR_MODEL_LOAD) naming the path.
  static std::shared_ptr<Model> load(const std::string& path, const ModelOptions& options);

  // Runs the network under InferenceMode on the model's device; inputs on another device are moved.
  // Returns float32 logits on the model's device. Must be called from one thread at a time.
  torch::Tensor forward(const torch::Tensor& input);

  // The torchvision architecture recognised from the module's submodule types, or "unknown".
  const std::string& arch() const { return arch_; }
  // Classes of the final fully connected layer, or -1 when the module has no `fc`.
  int64_t numClasses() const { return numClasses_; }
  // Parameters of the module as exported, counted before freezing folds them into constants.
  int64_t parameterCount() const { return parameterCount_; }
  const torch::Device& device() const { return options_.device; }
  bool optimized() const { return options_.optimize; }

 private:
  Model(torch::jit::Module module, ModelOptions options);
  void warmup();

  torch::jit::Module module_;
  ModelOptions options_;
  std::string arch_;
  int64_t numClasses_ = -1;
  int64_t parameterCount_ = 0;
};

// Sets LibTorch's intra-op thread count on the calling thread when it differs: an executor
// thread starts with LibTorch's default (1 in Debian's build), and changing it clears oneDNN's
// kernel cache, so only change it when needed.
void applyIntraOpThreads(int threads);

}  // namespace torchvideo

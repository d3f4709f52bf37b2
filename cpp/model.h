// A TorchScript video classifier loaded for inference: eval mode, optionally frozen and optimized
// for inference, warmed up, on one device.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cpp/device_upload.h"
#include "cpp/video/preprocess.h"

namespace torchvideo {

// Every field is set by the caller (the binding passes the TS layer's defaults); nothing here
// guesses a default that the API documents elsewhere.
struct ModelOptions {
  torch::Device device{torch::kCPU};
  // freeze + optimize_for_inference: folds batch norm into the convolutions and sends every
  // convolution through oneDNN. Measured on 2 cores with OpenBLAS: 1.0-1.9x faster than the plain
  // scripted module at batch 1, 2.6-3x at batch 8 (the plain module sends some convolutions to a
  // slower fallback).
  bool optimize = true;
  // Run the network on zeros at load time: the first calls build the profiling executor's plan and
  // oneDNN's kernels, which would otherwise land on the user's first request. The warm-up also
  // proves the module is a classifier (see Model::load).
  bool warmup = true;
  std::vector<int64_t> warmupShape{1, 3, 16, 112, 112};
  // CUDA only: weights and inputs in float16, logits returned as float32.
  bool half = false;
  // bfloat16 weights and inputs, logits returned as float32: an fp32 export converted at load (CPUs with
  // AVX512-BF16 run it natively; others emulate it, slower than float32).
  bool bf16 = false;
  // The export is int8 (FX static quantization for oneDNN, scripts/export_models.py): oneDNN's quantized
  // engine is selected before it loads (QNNPACK, the other engine of Debian's build, has no 3D convolution).
  bool quantized = false;
  // LibTorch intra-op threads used by this model's forward passes.
  int intraOpThreads = 1;
};

class Model {
 public:
  // Loads, checks and prepares a network. Throws TorchVideoError ERR_FILE_NOT_FOUND, ERR_NOT_A_FILE,
  // ERR_MODEL_LOAD (not TorchScript, a parameter or buffer holding NaN/Inf, a warm-up that fails or
  // whose output is not float (B, classes) logits) naming the path; Error::range for half precision
  // off CUDA.
  static std::shared_ptr<Model> load(const std::string& path, const ModelOptions& options);

  // Runs the network under InferenceMode on the model's device; inputs on another device are moved.
  // Returns float32 logits (B, numClasses) on the model's device. Throws ERR_FORWARD when LibTorch
  // fails, and ERR_MODEL_LOAD when the module's output is not logits for the batch (possible only
  // when no warm-up checked it at load). Must be called from one thread at a time.
  torch::Tensor forward(const torch::Tensor& batch);

  // forward() of inputs checked by checkModelInputs (or, with `preprocess`, by checkFrameInputs). On
  // CUDA the pieces are uploaded as they are (see DeviceUploader) and joined on the GPU, so no host
  // copy stacks them first. With `preprocess` the pieces are decoded frames, uint8 (K, T, H, W, 3),
  // preprocessed on the model's device (preprocessClips) into K * crops clips.
  torch::Tensor forwardInputs(const std::vector<torch::Tensor>& inputs, bool isList,
                              const std::optional<PreprocessOptions>& preprocess);

  // The torchvision architecture recognised from the module's submodule types, or "unknown".
  const std::string& arch() const { return arch_; }
  // Classes the network scores: its final `fc` layer's, else the warm-up output's, else -1 (known
  // after the first forward).
  int64_t numClasses() const { return numClasses_; }
  // Parameters of the module as exported, counted before freezing folds them into constants.
  int64_t parameterCount() const { return parameterCount_; }
  const torch::Device& device() const { return options_.device; }
  bool optimized() const { return options_.optimize; }

 private:
  Model(torch::jit::Module module, ModelOptions options, const std::string& path);
  void warmup();
  // Throws ERR_MODEL_LOAD unless `output` is a floating (batch, classes) tensor.
  torch::Tensor logitsOf(const c10::IValue& output, int64_t batch);

  torch::jit::Module module_;
  ModelOptions options_;
  std::string path_;
  std::string arch_;
  int64_t numClasses_ = -1;
  int64_t parameterCount_ = 0;
  DeviceUploader uploader_;
};

// What forward() accepts, checked before any work is queued. `inputs` is either one (B, 3, T, H, W)
// batch (`isList` false) or the clips of a JS array: each (3, T, H, W), or each a batch
// (B_i, 3, T, H, W), all of one shape. Throws Error::type for a dtype other than float32 and
// Error::range for a wrong rank, channel count, mixed shapes or an empty list; messages name
// `input` or `input[i]`.
void checkModelInputs(const std::vector<torch::Tensor>& inputs, bool isList);

// Decoded frames for forwardInputs with preprocessing: a non-empty list of uint8 (K, T, H, W, 3)
// tensors (Error::type / Error::range naming `input[i]`).
void checkFrameInputs(const std::vector<torch::Tensor>& inputs);

// One batch from checked inputs: a lone batch as is, clips stacked, batches concatenated.
torch::Tensor stackModelInputs(const std::vector<torch::Tensor>& inputs, bool isList);

// Throws Error::range naming the first NaN or infinite element of a CPU input (`input` or `input[i]`):
// the optimized graph turns NaN into finite logits, so garbage in would otherwise look like an answer.
// Tensors on a GPU are not checked (reading them back would cost a sync).
void checkFiniteInputs(const std::vector<torch::Tensor>& inputs, bool isList);

// Throws TorchVideoError ERR_FILE_NOT_FOUND, ERR_NOT_A_FILE or ERR_MODEL_LOAD (an empty file) naming
// `path` before LibTorch reads it, so each gets the message it deserves.
void checkModelFile(const std::string& path);

// The torchvision architecture recognised from the module's submodule types ('r3d_18', 'mc3_18',
// 'r2plus1d_18'), or "unknown".
std::string recogniseArch(const torch::jit::Module& module);

// Sets LibTorch's intra-op thread count on the calling thread when it differs: an executor
// thread starts with LibTorch's default (1 in Debian's build), and changing it clears oneDNN's
// kernel cache, so only change it when needed.
void applyIntraOpThreads(int threads);

}  // namespace torchvideo

#include "cpp/model.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/jit/api/module.h>

#include <filesystem>
#include <system_error>

#include "cpp/errors.h"
#include "cpp/torch_errors.h"

namespace torchvideo {
namespace {

void checkModelFile(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw Error::torchvideo(codes::kFileNotFound, "model file not found: '" + path + "'");
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw Error::torchvideo(codes::kNotAFile, "model path is not a regular file: '" + path + "'");
  }
  if (std::filesystem::file_size(path, ec) == 0) {
    throw Error::torchvideo(codes::kModelLoad, "model file is empty: '" + path + "'");
  }
}

// torchvision's three video ResNets differ in their stem and block convolutions, whose scripted
// class names survive in the TorchScript export.
std::string recogniseArch(const torch::jit::Module& module) {
  bool isVideoResNet = false, hasR2Plus1dStem = false, hasNoTemporalConv = false;
  for (const auto& named : module.named_modules()) {
    const auto type = named.value.type()->name();
    if (!type) continue;
    const std::string name = type->name();
    isVideoResNet |= name == "VideoResNet";
    hasR2Plus1dStem |= name == "R2Plus1dStem";
    hasNoTemporalConv |= name == "Conv3DNoTemporal";
  }
  if (!isVideoResNet) return "unknown";
  if (hasR2Plus1dStem) return "r2plus1d_18";
  if (hasNoTemporalConv) return "mc3_18";
  return "r3d_18";
}

int64_t countParameters(const torch::jit::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters()) count += parameter.numel();
  return count;
}

int64_t classesOfFinalLayer(const torch::jit::Module& module) {
  if (!module.hasattr("fc")) return -1;
  const auto fc = module.attr("fc");
  if (!fc.isModule()) return -1;
  const auto fcModule = fc.toModule();
  if (!fcModule.hasattr("weight")) return -1;
  return fcModule.attr("weight").toTensor().size(0);
}

}  // namespace

void applyIntraOpThreads(int threads) {
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}

std::shared_ptr<Model> Model::load(const std::string& path, const ModelOptions& options) {
  checkModelFile(path);
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, options.device);
  } catch (const c10::Error& error) {
    throw Error::torchvideo(codes::kModelLoad, "cannot load TorchScript model '" + path +
                                                   "': " + torchMessage(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    throw Error::torchvideo(codes::kModelLoad,
                            "cannot load TorchScript model '" + path + "': " + torchMessage(error.what()));
  }
  return std::shared_ptr<Model>(new Model(std::move(module), options));
}

Model::Model(torch::jit::Module module, ModelOptions options) : options_(std::move(options)) {
  if (options_.half && !options_.device.is_cuda()) {
    throw Error::range("half precision needs a CUDA device; got device '" + options_.device.str() + "'");
  }
  applyIntraOpThreads(options_.intraOpThreads);
  module.eval();
  arch_ = recogniseArch(module);
  numClasses_ = classesOfFinalLayer(module);
  parameterCount_ = countParameters(module);
  if (options_.device.is_cuda()) {
    // The input shape is fixed per model, so cuDNN's autotuner pays off after the first call.
    at::globalContext().setBenchmarkCuDNN(true);
  }
  if (options_.half) module.to(torch::kHalf);
  rethrowTorchErrors(codes::kModelLoad, "cannot optimize the model for inference", [&] {
    if (options_.optimize) {
      auto frozen = torch::jit::freeze(module);
      module_ = torch::jit::optimize_for_inference(frozen);
    } else {
      module_ = module;
    }
  });
  if (options_.warmup) warmup();
}

void Model::warmup() {
  const auto zeros = torch::zeros(options_.warmupShape, torch::TensorOptions().dtype(torch::kFloat32));
  // Two calls: the profiling executor records shapes on the first and optimizes on the second.
  for (int call = 0; call < 2; ++call) forward(zeros);
}

torch::Tensor Model::forward(const torch::Tensor& input) {
  applyIntraOpThreads(options_.intraOpThreads);
  c10::InferenceMode inferenceMode;
  torch::Tensor output;
  rethrowTorchErrors(codes::kForward, "forward failed", [&] {
    auto onDevice = input.device() == options_.device ? input : input.to(options_.device);
    if (options_.half) onDevice = onDevice.to(torch::kHalf);
    output = module_.forward({onDevice}).toTensor();
    if (output.scalar_type() != torch::kFloat32) output = output.to(torch::kFloat32);
  });
  return output;
}

}  // namespace torchvideo

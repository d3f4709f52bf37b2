#include "cpp/model.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/jit/api/module.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "cpp/dtypes.h"
#include "cpp/errors.h"
#include "cpp/regular_file.h"
#include "cpp/shape_text.h"
#include "cpp/torch_errors.h"

namespace torchvideo {
namespace {

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

// The position of the first element of `tensor` that `bad` marks, as "[i, j, ...]", and its value.
std::string firstMarked(const torch::Tensor& tensor, const torch::Tensor& bad) {
  const auto position = bad.nonzero()[0];
  std::vector<int64_t> index(position.data_ptr<int64_t>(), position.data_ptr<int64_t>() + position.numel());
  int64_t flat = 0;
  for (int64_t d = 0; d < tensor.dim(); ++d) flat = flat * tensor.size(d) + index[d];
  const double value = tensor.reshape({-1})[flat].item<double>();
  std::ostringstream text;
  text << shapeText(index) << " is " << (std::isnan(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
  return text.str();
}

// NaN or infinite weights make every answer NaN, or (once freezing folds batch norm) silently
// wrong finite numbers: refuse them at load, naming the first.
void checkFiniteState(const torch::jit::Module& module, const std::string& path) {
  auto check = [&](const std::string& kind, const std::string& name, const torch::Tensor& tensor) {
    if (!tensor.defined() || !tensor.is_floating_point() || tensor.numel() == 0) return;
    const auto bad = torch::isfinite(tensor).logical_not();
    if (!bad.any().item<bool>()) return;
    throw Error::torchvideo(codes::kModelLoad, "model '" + path + "' has a " + kind + " holding non-finite values: '" +
                                                   name + "' " + firstMarked(tensor, bad));
  };
  for (const auto& parameter : module.named_parameters(/*recurse=*/true)) {
    check("parameter", parameter.name, parameter.value);
  }
  for (const auto& buffer : module.named_buffers(/*recurse=*/true)) check("buffer", buffer.name, buffer.value);
}

const char* ivalueKind(const c10::IValue& value) {
  if (value.isTuple()) return "a tuple";
  if (value.isList()) return "a list";
  if (value.isGenericDict()) return "a dict";
  if (value.isNone()) return "None";
  if (value.isString()) return "a string";
  if (value.isScalar()) return "a number";
  return "a non-tensor value";
}

}  // namespace

void checkModelFile(const std::string& path) {
  requireRegularFile(path, "model");
  std::error_code ec;
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

void applyIntraOpThreads(int threads) {
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}

// oneDNN's quantized engine, process-wide (LibTorch keeps one engine per process): int8 exports are
// quantized for it. Throws ERR_MODEL_LOAD naming the engines this LibTorch has when it lacks oneDNN's.
static void useOneDnnQuantizedEngine(const std::string& path) {
  const auto& engines = at::globalContext().supportedQEngines();
  if (std::find(engines.begin(), engines.end(), at::QEngine::ONEDNN) == engines.end()) {
    std::string names;
    for (const auto engine : engines) names += (names.empty() ? "" : ", ") + c10::toString(engine);
    throw Error::torchvideo(codes::kModelLoad, "cannot run the int8 export '" + path +
                                                   "': this LibTorch has no oneDNN quantized engine (it has: " +
                                                   (names.empty() ? "none" : names) + ")");
  }
  if (at::globalContext().qEngine() != at::QEngine::ONEDNN) at::globalContext().setQEngine(at::QEngine::ONEDNN);
}

std::shared_ptr<Model> Model::load(const std::string& path, const ModelOptions& options) {
  checkModelFile(path);
  if (options.quantized) useOneDnnQuantizedEngine(path);
  torch::jit::Module module;
  rethrowTorchErrors(codes::kModelLoad, "cannot load TorchScript model '" + path + "'",
                     [&] { module = torch::jit::load(path, options.device); });
  return std::shared_ptr<Model>(new Model(std::move(module), options, path));
}

Model::Model(torch::jit::Module module, ModelOptions options, const std::string& path)
    : options_(std::move(options)), path_(path), uploader_(options_.device) {
  if (options_.half && !options_.device.is_cuda()) {
    throw Error::range("expected options.half to be used with a CUDA device, got device '" + options_.device.str() +
                       "'");
  }
  applyIntraOpThreads(options_.intraOpThreads);
  module.eval();
  arch_ = recogniseArch(module);
  numClasses_ = classesOfFinalLayer(module);
  parameterCount_ = countParameters(module);
  rethrowTorchErrors(codes::kModelLoad, "cannot check the parameters of '" + path + "'",
                     [&] { checkFiniteState(module, path); });
  if (options_.device.is_cuda()) {
    // The input shape is fixed per model, so cuDNN's autotuner pays off after the first call.
    at::globalContext().setBenchmarkCuDNN(true);
  }
  if (options_.half) module.to(torch::kHalf);
  if (options_.bf16 && options_.quantized)
    throw Error::range("expected options.bf16 with a float32 export, got an int8 one");
  // Converted before freezing, so the folded batch norms and oneDNN's prepacked weights are bfloat16.
  if (options_.bf16) module.to(torch::kBFloat16);
  rethrowTorchErrors(codes::kModelLoad, "cannot optimize the model for inference", [&] {
    if (options_.optimize) {
      auto frozen = torch::jit::freeze(module);
      module_ = torch::jit::optimize_for_inference(frozen);
    } else {
      module_ = module;
    }
  });
  // Without a final `fc` only running the network tells what it returns: do it now, once, so a
  // module that is no classifier is refused here rather than answering with empty results later.
  if (options_.warmup || numClasses_ < 0) warmup();
}

void Model::warmup() {
  const auto zeros = torch::zeros(options_.warmupShape, torch::TensorOptions().dtype(torch::kFloat32));
  // Two calls: the profiling executor records shapes on the first and optimizes on the second.
  const int calls = options_.warmup ? 2 : 1;
  try {
    for (int call = 0; call < calls; ++call) forward(zeros);
  } catch (const Error& error) {
    if (error.code() == codes::kForward) {
      throw Error::torchvideo(codes::kModelLoad, "model '" + path_ + "' fails on a " + shapeText(options_.warmupShape) +
                                                     " input at load: " + error.what());
    }
    throw;
  }
}

torch::Tensor Model::logitsOf(const c10::IValue& output, int64_t batch) {
  auto refuse = [&](const std::string& got) {
    return Error::torchvideo(codes::kModelLoad,
                             "model '" + path_ + "' is not a video classifier: its forward returned " + got +
                                 " for a batch of " + std::to_string(batch) + ", expected float logits of shape [" +
                                 std::to_string(batch) + ", classes]");
  };
  if (!output.isTensor()) throw refuse(ivalueKind(output));
  auto logits = output.toTensor();
  const std::string got = "a " + dtypeName(logits.scalar_type()) + " tensor of shape " + shapeText(logits.sizes());
  if (!logits.is_floating_point() || logits.dim() != 2 || logits.size(0) != batch || logits.size(1) < 1) {
    throw refuse(got);
  }
  if (numClasses_ >= 0 && logits.size(1) != numClasses_) {
    throw refuse(got + " (its fc layer has " + std::to_string(numClasses_) + " classes)");
  }
  // Set once, during load (a module without `fc` always runs at load): forwards only read it.
  if (numClasses_ < 0) numClasses_ = logits.size(1);
  return logits.scalar_type() == torch::kFloat32 ? logits : logits.to(torch::kFloat32);
}

torch::Tensor Model::forward(const torch::Tensor& batch) {
  applyIntraOpThreads(options_.intraOpThreads);
  c10::InferenceMode inferenceMode;
  c10::IValue output;
  rethrowTorchErrors(codes::kForward, "forward failed", [&] {
    auto onDevice = batch.device() == options_.device ? batch : batch.to(options_.device);
    if (options_.half) onDevice = onDevice.to(torch::kHalf);
    if (options_.bf16) onDevice = onDevice.to(torch::kBFloat16);
    output = module_.forward({onDevice});
  });
  return logitsOf(output, batch.size(0));
}

torch::Tensor Model::forwardInputs(const std::vector<torch::Tensor>& inputs, bool isList,
                                   const std::optional<PreprocessOptions>& preprocess) {
  if (!preprocess && !options_.device.is_cuda()) return forward(stackModelInputs(inputs, isList));
  applyIntraOpThreads(options_.intraOpThreads);
  c10::InferenceMode inferenceMode;
  std::vector<torch::Tensor> pieces;
  rethrowTorchErrors(codes::kForward, "moving the input to " + options_.device.str() + " failed",
                     [&] { pieces = uploader_.upload(inputs); });
  if (preprocess) {
    for (auto& piece : pieces) piece = preprocessClips(piece, *preprocess);
    return forward(pieces.size() == 1 ? pieces.front() : torch::cat(pieces));
  }
  return forward(stackModelInputs(pieces, isList));
}

void checkFrameInputs(const std::vector<torch::Tensor>& inputs) {
  if (inputs.empty()) throw Error::range("expected input to be a non-empty array of frame tensors");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& tensor = inputs[i];
    const std::string name = "input[" + std::to_string(i) + "]";
    if (tensor.scalar_type() != torch::kUInt8) {
      throw Error::type("expected " + name + " to be a uint8 tensor of frames, got " + dtypeName(tensor.scalar_type()));
    }
    if (tensor.dim() != 5 || tensor.size(4) != 3 || tensor.numel() == 0) {
      throw Error::range("expected " + name + " to have shape (K, T, H, W, 3), got " + shapeText(tensor.sizes()));
    }
    if (tensor.size(1) != inputs.front().size(1)) {
      throw Error::range("expected every clip to have the " + std::to_string(inputs.front().size(1)) +
                         " frames of input[0], got " + name + " " + shapeText(tensor.sizes()));
    }
  }
}

void checkModelInputs(const std::vector<torch::Tensor>& inputs, bool isList) {
  if (inputs.empty()) throw Error::range("expected input to be a non-empty array of tensors");
  const int64_t rank = isList && inputs.front().dim() == 4 ? 4 : 5;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& tensor = inputs[i];
    const std::string name = isList ? "input[" + std::to_string(i) + "]" : "input";
    if (tensor.scalar_type() != torch::kFloat32) {
      throw Error::type("expected " + name + " to be a float32 tensor, got " + dtypeName(tensor.scalar_type()));
    }
    if (tensor.dim() != rank) {
      throw Error::range("expected " + name + " to have " + std::to_string(rank) + " dimensions (" +
                         (rank == 5 ? "B, 3, T, H, W" : "3, T, H, W") + "), got shape " + shapeText(tensor.sizes()));
    }
    if (tensor.size(rank - 4) != 3) {
      throw Error::range("expected " + name + " to have 3 colour channels in dimension " + std::to_string(rank - 4) +
                         ", got shape " + shapeText(tensor.sizes()));
    }
    if (tensor.sizes().slice(rank - 4) != inputs.front().sizes().slice(rank - 4)) {
      throw Error::range("expected every clip to have the shape of input[0] " + shapeText(inputs.front().sizes()) +
                         ", got " + name + " " + shapeText(tensor.sizes()));
    }
  }
}

torch::Tensor stackModelInputs(const std::vector<torch::Tensor>& inputs, bool isList) {
  if (!isList) return inputs.front();
  if (inputs.front().dim() == 4) return torch::stack(inputs);
  return inputs.size() == 1 ? inputs.front() : torch::cat(inputs);
}

void checkFiniteInputs(const std::vector<torch::Tensor>& inputs, bool isList) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& tensor = inputs[i];
    if (!tensor.device().is_cpu() || tensor.numel() == 0) continue;
    // One vectorised pass: a sum is finite when every element is (NaN and Infinity propagate).
    // Only an overflowing sum of huge finite values needs the exact look that follows.
    if (std::isfinite(tensor.sum().item<double>())) continue;
    const auto bad = torch::isfinite(tensor).logical_not();
    if (!bad.any().item<bool>()) continue;
    const std::string name = isList ? "input[" + std::to_string(i) + "]" : "input";
    throw Error::range("expected " + name + " to hold finite numbers, got element " + firstMarked(tensor, bad));
  }
}

}  // namespace torchvideo

#include "cpp/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <sstream>

#include "cpp/distributed/state_sync.h"
#include "cpp/dtypes.h"
#include "cpp/errors.h"
#include "cpp/model.h"
#include "cpp/shape_text.h"
#include "cpp/torch_errors.h"
#include "cpp/train/atomic_file.h"
#include "cpp/train/autocast.h"
#include "cpp/train/classifier.h"

namespace torchvideo {
namespace {

void checkDeviceOptions(const TrainerOptions& options) {
  if (options.amp && !options.device.is_cuda()) {
    throw Error::range("expected options.amp to be used with a CUDA device, got device '" + options.device.str() +
                       "' (automatic mixed precision is float16 autocast on CUDA)");
  }
}

bool isClassifierParameter(const std::string& name) { return name.rfind("fc.", 0) == 0; }

// The TorchScript graph executor, left to optimize, profiles the first runs and then swaps in a
// differentiable graph with its own autodiff formulas: the same step would round differently on the
// first and the third call of a module, so a trainer restored from a checkpoint (a fresh module)
// would drift from one that never stopped. The plain interpreter runs every op through the
// dispatcher and eager autograd, the same way on every call. The flag is thread-local: it is set
// only around this trainer's own work on the executor thread.
using PlainInterpreterGuard = torch::jit::GraphOptimizerEnabledGuard;

}  // namespace

std::shared_ptr<Trainer> Trainer::create(const std::string& exportPath, const TrainerOptions& options) {
  if (options.numClasses < 1) {
    throw Error::range("expected options.numClasses to be an integer >= 1, got " + std::to_string(options.numClasses));
  }
  checkDeviceOptions(options);
  checkModelFile(exportPath);
  torch::jit::Module module;
  rethrowTorchErrors(codes::kModelLoad, "cannot load TorchScript model '" + exportPath + "'",
                     [&] { module = torch::jit::load(exportPath, options.device); });
  const int64_t classes = classifierClasses(module);
  if (classes < 0) {
    throw Error::torchvideo(codes::kModelLoad, "cannot train '" + exportPath +
                                                   "': it has no final Linear layer 'fc' (a torchvision video "
                                                   "ResNet export is expected)");
  }
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  if (classes != options.numClasses) {
    rethrowTorchErrors(codes::kModelLoad, "cannot replace the fc layer of '" + exportPath + "'",
                       [&] { replaceClassifier(module, options.numClasses, generator); });
  }
  return std::shared_ptr<Trainer>(new Trainer(std::move(module), options, std::move(generator)));
}

std::shared_ptr<Trainer> Trainer::restore(const std::string& checkpointPath, const torch::Device& device,
                                          int intraOpThreads) {
  auto state = readCheckpoint(checkpointPath);
  auto options = state.options;
  options.device = device;
  options.intraOpThreads = intraOpThreads;
  checkDeviceOptions(options);
  torch::jit::Module module;
  auto generator = at::make_generator<at::CPUGeneratorImpl>();
  rethrowTorchErrors(codes::kCheckpoint, "cannot read checkpoint '" + checkpointPath + "'", [&] {
    std::istringstream bytes(state.moduleBytes);
    module = torch::jit::load(bytes, device);
    generator.set_state(state.rngState);
  });
  if (classifierClasses(module) != options.numClasses) {
    throw Error::torchvideo(codes::kCheckpoint, "checkpoint '" + checkpointPath + "' is damaged: its network has " +
                                                    std::to_string(classifierClasses(module)) +
                                                    " classes, its options " + std::to_string(options.numClasses));
  }
  std::shared_ptr<Trainer> trainer(new Trainer(std::move(module), options, std::move(generator)));
  rethrowTorchErrors(codes::kCheckpoint, "cannot read checkpoint '" + checkpointPath + "'", [&] {
    for (auto& buffer : state.momentumBuffers) {
      if (buffer.defined()) buffer = buffer.to(device);
    }
    trainer->sgd_->setMomentumBuffers(std::move(state.momentumBuffers));
    if (trainer->scaler_) trainer->scaler_->setState(state.lossScale, state.growthTracker);
  });
  trainer->stepCount_ = state.stepCount;
  trainer->restoredLearningRate_ = state.learningRate;
  trainer->restoredMetadata_ = std::move(state.metadata);
  return trainer;
}

Trainer::Trainer(torch::jit::Module module, TrainerOptions options, at::Generator generator)
    : module_(std::move(module)), options_(std::move(options)), generator_(std::move(generator)) {
  applyIntraOpThreads(options_.intraOpThreads);
  arch_ = recogniseArch(module_);
  std::vector<torch::Tensor> trained;
  for (const auto& named : module_.named_parameters(/*recurse=*/true)) {
    auto parameter = named.value;
    const bool train = !options_.freezeBackbone || isClassifierParameter(named.name);
    // A frozen parameter needs no gradient: backward stops at the classifier.
    parameter.requires_grad_(train);
    parameterCount_ += parameter.numel();
    if (!train) continue;
    trainedParameterCount_ += parameter.numel();
    trained.push_back(parameter);
  }
  sgd_ = std::make_unique<Sgd>(std::move(trained), options_.momentum, options_.weightDecay);
  if (options_.amp) scaler_ = std::make_unique<GradScaler>(options_.device);
  setTrainingModes();
}

void Trainer::checkUsable() const {
  if (!failure_.empty()) {
    throw Error::torchvideo(codes::kDistributed,
                            "this trainer cannot be used after a failed distributed step (its gradients and "
                            "buckets are in an unknown state; restore the last checkpoint): " +
                                failure_);
  }
}

void Trainer::setDistributed(std::shared_ptr<DistributedGroup> group, ReducerOptions reducer) {
  checkUsable();
  std::vector<torch::Tensor> parameters, trained, buffers;
  for (const auto& named : module_.named_parameters(/*recurse=*/true)) {
    parameters.push_back(named.value);
    if (named.value.requires_grad()) trained.push_back(named.value);
  }
  for (const auto& named : module_.named_buffers(/*recurse=*/true)) buffers.push_back(named.value);
  std::vector<torch::Tensor> state = parameters;
  state.insert(state.end(), buffers.begin(), buffers.end());
  broadcastInPlace(*group, state, 0, "broadcast of rank 0's weights");
  reducer_ = std::make_unique<GradientReducer>(group, std::move(trained), reducer);
  buffers_ = std::move(buffers);
  group_ = std::move(group);
}

void Trainer::syncBuffers() {
  checkUsable();
  if (group_) broadcastInPlace(*group_, buffers_, 0, "broadcast of rank 0's buffers");
}

void Trainer::setTrainingModes() {
  if (!options_.freezeBackbone) {
    module_.train(true);
    return;
  }
  module_.train(false);
  module_.attr("fc").toModule().train(true);
}

StepResult Trainer::step(const torch::Tensor& clips, const torch::Tensor& labels, double lr) {
  // Checked again here, on the executor, on the values this step will use: the caller's check ran on
  // the JS thread, and an out-of-range label reaching cross_entropy poisons a CUDA context for good.
  checkTrainingBatch(clips, labels, options_.numClasses);
  checkUsable();
  applyIntraOpThreads(options_.intraOpThreads);
  PlainInterpreterGuard plainInterpreter(false);
  StepResult result;
  try {
    stepInto(result, clips, labels, lr);
  } catch (const std::exception& error) {
    if (group_) {
      // Gloo may still be writing later buckets: every outstanding allreduce is waited for (each ends at
      // the latest at the collective timeout) before anything could reuse them, and the trainer is
      // marked unusable, naming this first failure.
      if (reducer_) reducer_->abandon();
      failure_ = error.what();
    }
    throw;
  }
  ++stepCount_;
  return result;
}

void Trainer::stepInto(StepResult& result, const torch::Tensor& clips, const torch::Tensor& labels, double lr) {
  rethrowTorchErrors(codes::kTorch, "training step failed", [&] {
    const auto input = clips.to(options_.device);
    const auto target = labels.to(options_.device);
    // A frozen backbone's statistics never change: nothing to copy.
    if (group_ && !options_.freezeBackbone) broadcastInPlace(*group_, buffers_, 0, "broadcast of rank 0's buffers");
    torch::Tensor logits, loss;
    {
      CudaAutocastGuard autocast(options_.amp);
      logits = module_.forward({input}).toTensor();
      // Mean over the batch, no label smoothing: torch.nn.CrossEntropyLoss().
      loss = at::cross_entropy_loss(logits, target);
    }
    sgd_->zeroGrad();
    if (reducer_) reducer_->prepare();
    auto reduce = [&] {
      if (!reducer_) return;
      const auto stats = reducer_->finish();
      result.buckets = stats.buckets;
      result.bucketsDuringBackward = stats.launchedDuringBackward;
      result.allreduceExposedSeconds = stats.exposedSeconds;
    };
    if (scaler_) {
      scaler_->scale(loss).backward();
      // Scaled gradients are averaged, then unscaled: every rank sees the same Inf/NaN and skips alike.
      reduce();
      result.applied = scaler_->unscale(sgd_->gradients());
      if (result.applied) sgd_->step(lr);
      scaler_->update();
    } else {
      loss.backward();
      reduce();
      sgd_->step(lr);
    }
    // The gradients are spent: dropping them now frees a network's worth of memory between steps.
    sgd_->zeroGrad();
    torch::NoGradGuard noGrad;
    result.loss = loss.item<double>();
    result.correct = logits.argmax(1).eq(target).sum().item<int64_t>();
  });
}

torch::Tensor Trainer::predict(const torch::Tensor& clips) {
  checkUsable();
  applyIntraOpThreads(options_.intraOpThreads);
  PlainInterpreterGuard plainInterpreter(false);
  torch::NoGradGuard noGrad;
  torch::Tensor logits;
  module_.eval();
  try {
    rethrowTorchErrors(codes::kForward, "forward failed", [&] {
      CudaAutocastGuard autocast(options_.amp);
      logits = module_.forward({clips.to(options_.device)}).toTensor().to(torch::kFloat32);
    });
  } catch (...) {
    setTrainingModes();
    throw;
  }
  setTrainingModes();
  return logits;
}

void Trainer::exportModel(const std::string& path) {
  checkUsable();
  // Exported in eval mode: a loaded export is an inference network.
  module_.eval();
  try {
    writeFileAtomically(path, codes::kTorch, [&](std::ostream& out) {
      rethrowTorchErrors(codes::kTorch, "cannot export the model to '" + path + "'", [&] { module_.save(out); });
    });
  } catch (...) {
    setTrainingModes();
    throw;
  }
  setTrainingModes();
}

std::string Trainer::moduleBytes() {
  std::ostringstream bytes;
  module_.save(bytes);
  return bytes.str();
}

void Trainer::saveCheckpoint(const std::string& path, double lr, const std::string& metadata) {
  checkUsable();
  CheckpointState state;
  rethrowTorchErrors(codes::kCheckpoint, "cannot write checkpoint '" + path + "'", [&] {
    state.moduleBytes = moduleBytes();
    state.momentumBuffers = sgd_->momentumBuffers();
    if (scaler_) {
      state.lossScale = scaler_->scaleTensor();
      state.growthTracker = scaler_->growthTracker();
    }
    state.rngState = generator_.get_state();
  });
  state.options = options_;
  state.learningRate = lr;
  state.stepCount = stepCount_;
  state.metadata = metadata;
  writeCheckpoint(path, state);
}

void checkTrainingBatch(const torch::Tensor& clips, const torch::Tensor& labels, int64_t numClasses) {
  if (clips.scalar_type() != torch::kFloat32) {
    throw Error::type("expected clips to be a float32 tensor, got " + dtypeName(clips.scalar_type()));
  }
  if (clips.dim() != 5 || clips.size(1) != 3) {
    throw Error::range("expected clips to have shape (B, 3, T, H, W), got " + shapeText(clips.sizes()));
  }
  if (clips.size(0) < 1)
    throw Error::range("expected clips to hold at least one clip, got shape " + shapeText(clips.sizes()));
  if (labels.scalar_type() != torch::kInt64) {
    throw Error::type("expected labels to be an int64 tensor of class indices, got " + dtypeName(labels.scalar_type()));
  }
  if (labels.dim() != 1) throw Error::range("expected labels to have shape (B), got " + shapeText(labels.sizes()));
  if (labels.size(0) != clips.size(0)) {
    throw Error::range("expected one label per clip: clips has batch size " + std::to_string(clips.size(0)) +
                       ", labels has " + std::to_string(labels.size(0)));
  }
  const auto onCpu = labels.to(torch::kCPU).contiguous();
  const auto* values = onCpu.data_ptr<int64_t>();
  for (int64_t i = 0; i < onCpu.numel(); ++i) {
    if (values[i] < 0 || values[i] >= numClasses) {
      throw Error::range("expected labels[" + std::to_string(i) + "] to be a class index in [0, " +
                         std::to_string(numClasses) + ") (numClasses " + std::to_string(numClasses) + "), got " +
                         std::to_string(values[i]));
    }
  }
}

}  // namespace torchvideo

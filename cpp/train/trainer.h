// Trains a TorchScript video classifier: the export loaded unfrozen, in train mode, with autograd;
// cross-entropy loss, SGD with momentum and weight decay, optionally float16 autocast with a loss
// scaler on CUDA. Every method but the accessors must run on one thread at a time (the device's
// executor): a step mutates the module in place.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/script.h>

#include <memory>
#include <optional>
#include <string>

#include "cpp/distributed/gradient_reducer.h"
#include "cpp/train/checkpoint.h"
#include "cpp/train/grad_scaler.h"
#include "cpp/train/sgd.h"
#include "cpp/train/trainer_options.h"

namespace torchvideo {

struct StepResult {
  // The batch's mean cross-entropy, before any loss scaling.
  double loss = 0;
  // Clips whose highest logit is their label.
  int64_t correct = 0;
  // False when AMP found Inf/NaN gradients and skipped the update (the scale backs off).
  bool applied = true;
  // In a distributed job: gradient buckets, how many were allreduced while backward still ran, and
  // the seconds spent after backward waiting for the rest (the communication not hidden).
  int buckets = 0;
  int bucketsDuringBackward = 0;
  double allreduceExposedSeconds = 0;
};

class Trainer {
 public:
  // Loads `exportPath` (a TorchScript export), replacing `fc` when options.numClasses differs from
  // its size. Throws TorchVideoError ERR_FILE_NOT_FOUND / ERR_NOT_A_FILE / ERR_MODEL_LOAD naming the
  // path, ERR_DEVICE_UNAVAILABLE; Error::range for AMP off CUDA or numClasses < 1.
  static std::shared_ptr<Trainer> create(const std::string& exportPath, const TrainerOptions& options);
  // Continues from a checkpoint (cpp/train/checkpoint.h) on `device`. Throws like readCheckpoint.
  static std::shared_ptr<Trainer> restore(const std::string& checkpointPath, const torch::Device& device,
                                          int intraOpThreads);

  // Forward, cross-entropy, backward and one SGD update at `lr`. Inputs on another device are moved.
  // Throws TorchVideoError ERR_TORCH when LibTorch fails. In a job, a failed step (ERR_DISTRIBUTED) leaves
  // the trainer unusable: every later call throws ERR_DISTRIBUTED naming that first failure.
  StepResult step(const torch::Tensor& clips, const torch::Tensor& labels, double lr);
  // Eval-mode float32 logits (B, numClasses) with the current weights; the module returns to its
  // training modes after.
  torch::Tensor predict(const torch::Tensor& clips);
  // Writes the module in eval mode as TorchScript, atomically. Throws ERR_TORCH naming `path`.
  void exportModel(const std::string& path);
  // Writes a checkpoint holding `lr` and `metadata` (the TS layer's JSON). Throws ERR_CHECKPOINT.
  void saveCheckpoint(const std::string& path, double lr, const std::string& metadata);

  // Makes this trainer one rank of a data-parallel job: rank 0's parameters and buffers are copied to
  // every rank now; from then on each step copies rank 0's buffers first (DDP's broadcast_buffers) and
  // averages the gradients across ranks during backward (GradientReducer). Collective: every rank calls
  // it. Throws ERR_DISTRIBUTED.
  void setDistributed(std::shared_ptr<DistributedGroup> group, ReducerOptions reducer);
  // Copies rank 0's buffers (batch-norm statistics) to every rank: before an export or a checkpoint,
  // so every rank's copy is rank 0's. A no-op outside a job. Collective.
  void syncBuffers();

  const TrainerOptions& options() const { return options_; }
  const std::string& arch() const { return arch_; }
  int64_t parameterCount() const { return parameterCount_; }
  int64_t trainedParameterCount() const { return trainedParameterCount_; }
  // From the checkpoint this trainer was restored from; nullopt for a new trainer.
  const std::optional<double>& restoredLearningRate() const { return restoredLearningRate_; }
  const std::string& restoredMetadata() const { return restoredMetadata_; }

 private:
  Trainer(torch::jit::Module module, TrainerOptions options, at::Generator generator);
  // Train mode for what is trained: the whole network, or with freezeBackbone `fc` alone (the
  // backbone in eval mode, so its batch norms use and keep their running statistics).
  void setTrainingModes();
  std::string moduleBytes();
  void stepInto(StepResult& result, const torch::Tensor& clips, const torch::Tensor& labels, double lr);
  // ERR_DISTRIBUTED once a distributed step failed (failure_).
  void checkUsable() const;

  torch::jit::Module module_;
  TrainerOptions options_;
  at::Generator generator_;
  std::string arch_;
  int64_t parameterCount_ = 0;
  int64_t trainedParameterCount_ = 0;
  std::unique_ptr<Sgd> sgd_;
  std::unique_ptr<GradScaler> scaler_;
  std::shared_ptr<DistributedGroup> group_;
  std::unique_ptr<GradientReducer> reducer_;
  std::vector<torch::Tensor> buffers_;
  int64_t stepCount_ = 0;
  std::optional<double> restoredLearningRate_;
  std::string restoredMetadata_;
  // The first failed distributed step's error: every later call is refused with it.
  std::string failure_;
};

// What step() accepts, checked before any work is queued: clips float32 (B, 3, T, H, W), labels
// int64 (B) on the CPU holding class indices in [0, numClasses). Throws Error::type for a dtype and
// Error::range for a shape, a batch-size mismatch or a label out of range (naming it and numClasses).
void checkTrainingBatch(const torch::Tensor& clips, const torch::Tensor& labels, int64_t numClasses);

}  // namespace torchvideo

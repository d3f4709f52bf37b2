// The trainer's checkpoint file: everything a restored trainer needs to continue bit for bit as if
// it had never stopped. It is a LibTorch archive (torch::serialize, a zip file) holding:
//   format / version      the marker that tells a checkpoint from any other archive
//   module                the TorchScript module's bytes: architecture, every parameter and buffer
//                         (batch-norm running statistics and counters included)
//   options               TrainerOptions but device and threads
//   momentum_<i>          SGD's momentum buffer of trained parameter i (absent before its first step)
//   scale, growth_tracker the loss scaler (AMP only)
//   rng                   the trainer's CPU generator
//   learning_rate, step_count, metadata (the TS layer's JSON: preprocessing, origin)
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "cpp/train/trainer_options.h"

namespace torchvideo {

inline constexpr const char* kCheckpointFormat = "torchvideo-trainer-checkpoint";
inline constexpr int64_t kCheckpointVersion = 1;
// Bounds on the counts a checkpoint stores, checked before they size anything: num_classes as
// Trainer.create takes it, and momentum buffers (one per trained parameter tensor: a video ResNet has
// about 60; no network has a million).
inline constexpr int64_t kMaxClasses = 1000000000;
inline constexpr int64_t kMaxMomentumBuffers = 1 << 20;

struct CheckpointState {
  std::string moduleBytes;
  TrainerOptions options;
  // One per trained parameter, in order; undefined where the parameter has had no step yet.
  std::vector<torch::Tensor> momentumBuffers;
  // Undefined without AMP.
  torch::Tensor lossScale;
  torch::Tensor growthTracker;
  torch::Tensor rngState;
  double learningRate = 0;
  int64_t stepCount = 0;
  std::string metadata;
};

// Writes atomically (cpp/train/atomic_file.h). Throws TorchVideoError ERR_CHECKPOINT naming `path`.
void writeCheckpoint(const std::string& path, const CheckpointState& state);

// Reads a checkpoint onto the CPU; options.device and intraOpThreads are left as they are.
// Throws TorchVideoError ERR_FILE_NOT_FOUND / ERR_NOT_A_FILE, and ERR_CHECKPOINT naming `path` for a
// file that is torn, not a torchvideo checkpoint, of a newer format version, or whose stored counts are out
// of range (named: num_classes, labels, momentum_buffers, step_count, ...).
CheckpointState readCheckpoint(const std::string& path);

}  // namespace torchvideo

// What a trainer is made with. Every field is set by the caller (the binding passes the TS layer's
// defaults, src/train/trainer.ts); a checkpoint stores all but the device and threads, which belong
// to the machine that restores it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace torchvideo {

struct TrainerOptions {
  torch::Device device{torch::kCPU};
  // Classes of the trained network; a final `fc` of another size is replaced by a new one.
  int64_t numClasses = 0;
  // One name per class, written to exported sidecars.
  std::vector<std::string> labels;
  double momentum = 0;
  double weightDecay = 0;
  // Train `fc` alone: the backbone stays in eval mode, its batch-norm statistics frozen.
  bool freezeBackbone = false;
  // CUDA only: float16 autocast and a dynamic loss scaler.
  bool amp = false;
  // Seeds the trainer's own CPU generator (the new `fc`'s initialisation).
  uint64_t seed = 0;
  // LibTorch intra-op threads for this trainer's steps.
  int intraOpThreads = 1;
};

}  // namespace torchvideo

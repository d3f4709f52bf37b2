// The native half of src/train/trainer.ts: a trainer whose steps, predictions, exports and
// checkpoints all run in order on its executor (its own on the CPU, the device's on CUDA).
#pragma once

#include <napi.h>

#include <memory>

#include "binding/object_executors.h"
#include "cpp/train/trainer.h"

namespace torchvideo::binding {

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit TrainerWrap(const Napi::CallbackInfo& info);
  ~TrainerWrap() override;

 private:
  static Napi::Value create(const Napi::CallbackInfo& info);
  static Napi::Value restore(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value predict(const Napi::CallbackInfo& info);
  Napi::Value exportModel(const Napi::CallbackInfo& info);
  Napi::Value saveCheckpoint(const Napi::CallbackInfo& info);
  Napi::Value setDistributed(const Napi::CallbackInfo& info);
  Napi::Value syncBuffers(const Napi::CallbackInfo& info);
  Napi::Value info(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  std::shared_ptr<Trainer> trainerOrThrow() const;
  // Wraps a trainer made on the executor in a new JS object (on the JS thread).
  static Napi::Value wrap(Napi::Env env, std::shared_ptr<Trainer>& trainer);

  // Shared with queued jobs: dispose() drops this handle at once, and the trainer is freed when the
  // last job holding it ends, so no job ever sees a freed module.
  std::shared_ptr<Trainer> trainer_;
  // The group setDistributed() was called with (set on the JS thread at the call): the steps and syncs
  // called after it take their turns in its collective order.
  std::shared_ptr<DistributedGroup> group_;
  // For the finalizer: where the trainer is released, valid while the environment lives.
  std::weak_ptr<bool> envAlive_;
  // Where its jobs run: the trainer's own thread on the CPU (given back with the trainer), the
  // device's on CUDA.
  ExecutorHandle executor_;
};

}  // namespace torchvideo::binding

// The native half of src/model.ts: loads a TorchScript network on its device's executor and runs
// forward passes on the model's own (CPU) or the device's (CUDA) executor.
#pragma once

#include <napi.h>

#include <memory>

#include "binding/object_executors.h"
#include "cpp/model.h"

namespace torchvideo::binding {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo& info);

 private:
  static Napi::Value load(const Napi::CallbackInfo& info);
  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value batcher(const Napi::CallbackInfo& info);
  Napi::Value info(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  std::shared_ptr<Model> modelOrThrow() const;

  // Shared with in-flight jobs: dispose() drops this handle at once, and the network itself is freed
  // when the last forward that holds it finishes, so no job ever sees a freed module.
  std::shared_ptr<Model> model_;
  // Where forward passes run: the model's own thread on the CPU, the device's on CUDA. Shared with the
  // model's batchers, whose batches run there too (so they take turns with plain forwards); given back
  // when the model and its batchers are all gone.
  std::shared_ptr<ExecutorHandle> executor_;
};

}  // namespace torchvideo::binding

// The native half of src/batcher.ts: a Model's dynamic batcher (cpp/serving/batcher.h) with the
// promises of its callers.
//
// Each forward() gets a promise kept here by request id; outcomes come back from the executor and the
// timer thread through one thread-safe function per batcher (one hop per batch, not per request),
// which settles them on the JS thread. While any request is pending, the wrap holds a reference to
// itself (so a caller may drop the batcher and still get its answers) and the thread-safe function
// holds the event loop open; with none pending it holds neither, and the process may exit.
#pragma once

#include <napi.h>

#include <map>
#include <memory>
#include <mutex>

#include "binding/object_executors.h"
#include "cpp/model.h"
#include "cpp/serving/batcher.h"

namespace torchvideo::binding {

class BatcherWrap : public Napi::ObjectWrap<BatcherWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit BatcherWrap(const Napi::CallbackInfo& info);
  ~BatcherWrap() override;

  // A new batcher over `model`, whose forward passes run on `executor` (the model's own).
  static Napi::Value create(Napi::Env env, std::shared_ptr<Model> model, std::shared_ptr<ExecutorHandle> executor,
                            const Napi::Value& options, const Napi::Value& onBatch);

 private:
  struct Delivery {
    std::vector<serving::BatchOutcome> outcomes;
    std::optional<serving::BatchReport> report;
  };
  // Between the worker threads that deliver and the thread-safe function: closed (under the mutex)
  // when the function is finalized or the wrap lets it go, after which nothing may call it.
  struct Gate {
    std::mutex mutex;
    bool closed = false;
    BatcherWrap* owner = nullptr;
  };
  static void deliver(Napi::Env env, Napi::Function, std::shared_ptr<Gate>* gate, Delivery* delivery);
  static void closeGate(Napi::Env, void*, std::shared_ptr<Gate>* gate);
  using Channel = Napi::TypedThreadSafeFunction<std::shared_ptr<Gate>, Delivery, &BatcherWrap::deliver>;

  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value cancel(const Napi::CallbackInfo& info);
  void close(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value queuedClips(const Napi::CallbackInfo& info);
  void dispose(const Napi::CallbackInfo& info);

  void settle(Napi::Env env, Delivery& delivery);
  void pendingAdded(Napi::Env env);
  void pendingRemoved(Napi::Env env);
  void release();

  std::shared_ptr<serving::Batcher> batcher_;
  std::shared_ptr<Gate> gate_;
  Channel channel_;
  std::map<uint64_t, Napi::Promise::Deferred> pending_;
  Napi::FunctionReference onBatch_;
  // What stats() answers once the batcher is gone (after close()).
  std::optional<serving::BatcherStats> finalStats_;
  std::string device_;
};

}  // namespace torchvideo::binding

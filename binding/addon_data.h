// Everything the addon keeps per Node environment (the main thread and each worker_thread get their
// own): constructors, the TorchVideoError class handed over by the TS layer, and the executors.
// Nothing here is a C++ global, so worker_threads never share JS handles.
#pragma once

#include <napi.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "binding/object_executors.h"
#include "cpp/serving/batcher.h"
#include "cpp/thread_pool.h"

namespace torchvideo::binding {

struct AddonData {
  Napi::FunctionReference tensorConstructor;
  Napi::FunctionReference modelConstructor;
  Napi::FunctionReference trainerConstructor;
  Napi::FunctionReference videoReaderConstructor;
  Napi::FunctionReference processGroupConstructor;
  Napi::FunctionReference batcherConstructor;
  // src/errors.ts's TorchVideoError, set once by the TS layer at load.
  Napi::FunctionReference errorClass;

  // Native CPU memory of the live tensors JS holds, as reported to V8 (AdjustExternalMemory).
  int64_t tensorBytes = 0;

  std::thread::id jsThread = std::this_thread::get_id();
  // Expires when this environment is torn down; deleters that may run later check it first.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  // One single-thread executor per device name ('cpu', 'cuda:0', ...), created on first use: loads,
  // tensor copies, and the work of CUDA models and trainers (one thread per device keeps a device's
  // work in call order).
  ThreadPool& executorFor(const std::string& deviceName);
  // A model's or trainer's executor: on the CPU its own thread (see object_executors.h), so a long
  // training step does not hold back another model's forward; elsewhere the device's.
  ExecutorHandle objectExecutorFor(const std::string& deviceName);
  // Shared with the wraps that hold executors from it, which may be finalized after this is gone.
  std::shared_ptr<ObjectExecutors> objectExecutors = std::make_shared<ObjectExecutors>();
  // Every batcher made in this environment, so teardown can stop their timer threads (a batcher whose
  // wrap is never finalized would otherwise keep one waiting in a terminated worker).
  std::vector<std::weak_ptr<serving::Batcher>> batchers;
  // Decoding runs here, apart from the compute executors.
  ThreadPool& decodePool();
  // Before the process exits (the TS layer calls it from process 'exit'): drops queued work and waits
  // for running work, so exit()'s static destructors never run under a forward or a decode. See
  // ThreadPool::quiesce. Waits until `deadline` at most; false when work was still running then.
  bool quiesce(std::chrono::steady_clock::time_point deadline);

  static AddonData& of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

  ~AddonData();

 private:
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ThreadPool>> executors_;
  std::unique_ptr<ThreadPool> decodePool_;
};

}  // namespace torchvideo::binding

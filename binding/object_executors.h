// The CPU executors that models and trainers own, one each, so a training step on one trainer never
// holds back another model's forward (a single 'cpu' queue would run them one after the other).
// CUDA models and trainers keep their device's shared executor instead (AddonData::executorFor):
// one thread per device keeps the work on its stream in call order.
//
// Lifetime: the registry owns every pool; a wrap holds a plain pointer and a reference to the
// registry, and gives its pool back on dispose() or finalization. Destroying a pool runs what is
// still queued on it and joins its thread, which can take a whole training step: that happens on
// the registry's reaper thread, never on the JS thread that released it. At environment teardown
// shutdown() joins everything that is left, as AddonData did for the device executors.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "cpp/thread_pool.h"

namespace torchvideo::binding {

class ObjectExecutors {
 public:
  ObjectExecutors();
  // A new single-thread executor, owned here until release().
  ThreadPool* create();
  // Hands `executor` to the reaper, which lets its queued work finish and joins it. A pointer this
  // registry does not own (a device executor), or any after shutdown(), is ignored.
  void release(ThreadPool* executor);
  // See ThreadPool::quiesce: for process exit. False when work was still running at the deadline.
  bool quiesce(std::chrono::steady_clock::time_point deadline);
  // Environment teardown: runs what is queued everywhere and joins every thread.
  void shutdown();
  int liveCount();

 private:
  std::mutex mutex_;
  std::map<ThreadPool*, std::unique_ptr<ThreadPool>> pools_;
  std::unique_ptr<ThreadPool> reaper_;
};

// A wrap's executor: its own from the registry (given back on reset() or destruction), or a device's
// shared one (registry empty: nothing to give back).
class ExecutorHandle {
 public:
  ExecutorHandle() = default;
  ExecutorHandle(std::shared_ptr<ObjectExecutors> registry, ThreadPool* pool)
      : registry_(std::move(registry)), pool_(pool) {}
  ExecutorHandle(ExecutorHandle&& other) noexcept : registry_(std::move(other.registry_)), pool_(other.pool_) {
    other.pool_ = nullptr;
  }
  ExecutorHandle& operator=(ExecutorHandle&& other) noexcept {
    if (this != &other) {
      reset();
      registry_ = std::move(other.registry_);
      pool_ = other.pool_;
      other.pool_ = nullptr;
    }
    return *this;
  }
  ExecutorHandle(const ExecutorHandle&) = delete;
  ExecutorHandle& operator=(const ExecutorHandle&) = delete;
  ~ExecutorHandle() { reset(); }

  ThreadPool& get() const { return *pool_; }
  void reset() {
    if (registry_ && pool_) registry_->release(pool_);
    registry_.reset();
    pool_ = nullptr;
  }

 private:
  std::shared_ptr<ObjectExecutors> registry_;
  ThreadPool* pool_ = nullptr;
};

}  // namespace torchvideo::binding

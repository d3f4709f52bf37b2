#include "binding/object_executors.h"

#include <vector>

namespace torchvideo::binding {

// The reaper starts with the registry, not at the first release: a thread created while the process
// exits (a dispose() just before the end) races exit and LeakSanitizer's stop-the-world (its tracer
// crashed on such a thread in scripts/asan.sh).
ObjectExecutors::ObjectExecutors() : reaper_(std::make_unique<ThreadPool>(1)) {}

ThreadPool* ObjectExecutors::create() {
  auto pool = std::make_unique<ThreadPool>(1);
  ThreadPool* raw = pool.get();
  std::lock_guard<std::mutex> lock(mutex_);
  pools_.emplace(raw, std::move(pool));
  return raw;
}

void ObjectExecutors::release(ThreadPool* executor) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = pools_.find(executor);
  if (found == pools_.end()) return;
  ThreadPool* owned = found->second.release();
  pools_.erase(found);
  // A quiesced reaper (the process is exiting) drops this task: the pool, parked, goes with the process.
  reaper_->post([owned] { delete owned; });
}

bool ObjectExecutors::quiesce(std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mutex_);
  bool stopped = true;
  for (auto& [raw, pool] : pools_) stopped = pool->quiesce(deadline) && stopped;
  // Waits for a pool being destroyed there (its last queued work) too.
  if (reaper_) stopped = reaper_->quiesce(deadline) && stopped;
  return stopped;
}

void ObjectExecutors::shutdown() {
  std::map<ThreadPool*, std::unique_ptr<ThreadPool>> pools;
  std::unique_ptr<ThreadPool> reaper;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pools.swap(pools_);
    reaper.swap(reaper_);
  }
  // Outside the lock: a task finishing on these threads may release its own executor meanwhile.
  pools.clear();
  reaper.reset();
}

int ObjectExecutors::liveCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(pools_.size());
}

}  // namespace torchvideo::binding

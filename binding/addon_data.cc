#include "binding/addon_data.h"

#include <algorithm>

namespace torchvideo::binding {

ThreadPool& AddonData::executorFor(const std::string& deviceName) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& executor = executors_[deviceName];
  if (!executor) executor = std::make_unique<ThreadPool>(1);
  return *executor;
}

ExecutorHandle AddonData::objectExecutorFor(const std::string& deviceName) {
  if (deviceName == "cpu") return ExecutorHandle(objectExecutors, objectExecutors->create());
  return ExecutorHandle(nullptr, &executorFor(deviceName));
}

ThreadPool& AddonData::decodePool() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!decodePool_) {
    // Each decoder also uses FFmpeg's own frame/slice threads, so a few pool threads suffice to
    // keep the compute executor fed.
    const int threads = std::clamp(static_cast<int>(std::thread::hardware_concurrency()) / 2, 2, 4);
    decodePool_ = std::make_unique<ThreadPool>(threads);
  }
  return *decodePool_;
}

bool AddonData::quiesce(std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mutex_);
  bool stopped = !decodePool_ || decodePool_->quiesce(deadline);
  for (auto& [name, executor] : executors_) stopped = executor->quiesce(deadline) && stopped;
  stopped = objectExecutors->quiesce(deadline) && stopped;
  return stopped;
}

AddonData::~AddonData() {
  *alive = false;
  for (auto& weak : batchers) {
    if (auto batcher = weak.lock()) batcher->shutdown();
  }
  // Destroying the pools runs what is still queued and joins their threads; the thread-safe
  // functions those tasks report through are already closed at this point of teardown, so the
  // results are dropped instead of reaching a dying environment.
  decodePool_.reset();
  objectExecutors->shutdown();
  executors_.clear();
}

}  // namespace torchvideo::binding

// The last reference to a process group or a trainer must not drop on the JS thread: their destructors
// join threads and drain queues (Gloo's workers, the heartbeat, a gradient reducer's pending allreduces),
// which can take up to the collective timeout after a peer died, and the event loop would stall that long.
// The owner's executor takes the reference over and lets it go there, after the work queued before it.
#pragma once

#include <memory>
#include <utility>

#include "cpp/thread_pool.h"

namespace torchvideo::binding {

template <typename T>
void releaseOn(ThreadPool& executor, std::shared_ptr<T>& handle) {
  if (!handle) return;
  executor.post([held = std::move(handle)]() mutable { held.reset(); });
  handle.reset();
}

// True while the environment an object was made in still has its AddonData (its executors).
inline bool environmentAlive(const std::weak_ptr<bool>& alive) {
  const auto flag = alive.lock();
  return flag && *flag;
}

}  // namespace torchvideo::binding

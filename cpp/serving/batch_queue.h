// The waiting room of a dynamic batcher (batcher.h): requests wait here, in two lanes (high priority,
// then normal; each in arrival order), until the executor takes the next batch. Pure bookkeeping under
// the caller's lock: no threads, no LibTorch work, so every rule about which request goes into which
// batch lives in one place.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace torchvideo::serving {

using Clock = std::chrono::steady_clock;

struct BatchRequest {
  uint64_t id = 0;
  // (B, 3, T, H, W) float32, on the CPU or the model's device, checked at the call.
  torch::Tensor input;
  bool high = false;
  Clock::time_point enqueued;
  // When a request still queued then is rejected with ERR_TIMEOUT instead of run.
  std::optional<Clock::time_point> deadline;

  int64_t clips() const { return input.size(0); }
};

class BatchQueue {
 public:
  explicit BatchQueue(int64_t maxBatchSize) : maxBatchSize_(maxBatchSize) {}

  void push(BatchRequest request);
  // Removes the queued request `id`; false when it is not queued (never was, or already taken).
  bool remove(uint64_t id);
  // Removes and returns every request whose deadline is at or before `now`.
  std::vector<BatchRequest> takeExpired(Clock::time_point now);

  // The next batch, without taking it: the first request in priority-then-arrival order, then every
  // later one of the same clip shape (T, H, W) that still fits in maxBatchSize clips. A request is
  // never split: one that does not fit is passed over, and a smaller one behind it may still fit.
  // Indices are into lanes (0 high, 1 normal).
  struct Selection {
    std::vector<std::pair<int, size_t>> picks;
    int64_t clips = 0;
  };
  Selection select() const;
  // Takes what select() returned (nothing has changed the queue since), in batch order.
  std::vector<BatchRequest> take(const Selection& selection);

  bool empty() const { return lanes_[0].empty() && lanes_[1].empty(); }
  int64_t queuedClips() const { return queuedClips_; }
  int64_t queuedRequests() const { return static_cast<int64_t>(lanes_[0].size() + lanes_[1].size()); }
  // The earliest enqueue time and the earliest deadline among queued requests (none when empty).
  std::optional<Clock::time_point> oldestEnqueued() const;
  std::optional<Clock::time_point> earliestDeadline() const;

 private:
  int64_t maxBatchSize_;
  std::deque<BatchRequest> lanes_[2];
  int64_t queuedClips_ = 0;
};

// (T, H, W) of a request's clips: only requests with equal shapes share a batch.
bool sameClipShape(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace torchvideo::serving

// Dynamic batching for one model (the TS layer's Model.batcher()): concurrent callers' clips run as
// one forward pass.
//
// Batches form where the device is. Requests wait in a BatchQueue; a drain task on the model's
// executor takes, when the executor gets to it, every queued request that fits in maxBatchSize clips
// and runs them as one forward. With maxDelayMs 0 nothing ever waits for company: what queued while
// the executor was busy is the next batch (continuous batching). With maxDelayMs > 0 a batch that is
// not full waits until its oldest request has waited that long; a small timer thread posts the drain
// then, and also rejects queued requests whose deadline passes, so a timeout is on time even while the
// executor is busy with a long batch. Nothing here runs per request on the JS thread.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "cpp/serving/batch_queue.h"

namespace torchvideo::serving {

struct BatcherOptions {
  int64_t maxBatchSize = 32;
  double maxDelayMs = 0;
  int64_t maxQueueClips = 128;
};

// How one request ended; delivered to the JS thread to settle its promise.
struct BatchOutcome {
  enum class Kind { Done, Failed, TimedOut };
  uint64_t id = 0;
  Kind kind = Kind::Done;
  torch::Tensor logits;      // Done: this request's own rows.
  std::exception_ptr error;  // Failed.
  double queueMs = 0;        // TimedOut: how long it waited.
};

// One forward pass, for the TS layer's onBatch (metrics).
struct BatchReport {
  int64_t clips = 0;
  int64_t requests = 0;
  double computeMs = 0;
  std::vector<double> queueMs;
};

struct LatencyPercentiles {
  double p50 = 0, p90 = 0, p99 = 0;
};

struct BatcherStats {
  int64_t requests = 0, clips = 0, batches = 0;
  std::map<int64_t, int64_t> batchSizes;  // clips in a batch -> batches of that size
  LatencyPercentiles queueMs, computeMs;  // over the last kLatencySamples requests
  int64_t rejected = 0, timedOut = 0, aborted = 0, failed = 0;
  int64_t queuedClips = 0, queuedRequests = 0;
};

class Batcher {
 public:
  // The network: one forward of the requests' inputs, each (B_i, 3, T, H, W) of one clip shape.
  using Run = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;
  // Queues a task on the model's executor.
  using Post = std::function<void(std::function<void()>)>;
  // Hands outcomes (and, after a forward, its report) to the JS thread. Called on the executor or the
  // timer thread, never under the batcher's lock.
  using Deliver = std::function<void(std::vector<BatchOutcome>, std::optional<BatchReport>)>;

  static constexpr size_t kLatencySamples = 8192;

  static std::shared_ptr<Batcher> create(BatcherOptions options, Run run, Post post, Deliver deliver);
  ~Batcher();

  // Queues a request. Throws TorchVideoError ERR_QUEUE_FULL when its clips would take the queue past
  // maxQueueClips (counted as rejected), ERR_DISPOSED after close().
  void submit(BatchRequest request);
  // Takes a queued request back (its caller aborted): true when it was queued, and then it never runs
  // and no outcome comes for it. A request already in a running batch runs on; its outcome still comes.
  bool cancel(uint64_t id);
  // Takes no more requests; the queued ones still run, without waiting for company.
  void close();
  // Stops the timer thread and delivers nothing more. For when every request has settled, or the
  // environment is going away.
  void shutdown();
  BatcherStats stats();
  // Clips queued now: a cheap read for refusing a request before its body arrives.
  int64_t queuedClips();

 private:
  Batcher(BatcherOptions options, Run run, Post post, Deliver deliver);
  void scheduleLocked(Clock::time_point now);
  void drain();
  void timerLoop();
  std::vector<BatchOutcome> expireLocked(Clock::time_point now);
  std::vector<BatchOutcome> runBatch(std::vector<BatchRequest>& batch, BatchReport& report);
  void recordLocked(std::vector<double>& samples, size_t& next, double value);

  const BatcherOptions options_;
  const Run run_;
  const Post post_;
  const Deliver deliver_;
  // maxDelayMs, as the clock counts.
  const Clock::duration delay_;
  std::weak_ptr<Batcher> self_;

  std::mutex mutex_;
  std::condition_variable timerWake_;
  BatchQueue queue_;
  std::set<uint64_t> running_;
  // A drain is posted or running: the next is scheduled when it ends.
  bool busy_ = false;
  bool closed_ = false;
  bool stopped_ = false;
  BatcherStats counters_;
  std::vector<double> queueSamples_, computeSamples_;
  size_t nextQueueSample_ = 0, nextComputeSample_ = 0;
  std::thread timer_;
};

}  // namespace torchvideo::serving

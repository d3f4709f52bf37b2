#include "cpp/serving/batcher.h"

#include <algorithm>
#include <cmath>

#include "cpp/errors.h"
#include "cpp/model.h"

namespace torchvideo::serving {
namespace {

double millisecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

LatencyPercentiles percentilesOf(std::vector<double> samples) {
  LatencyPercentiles result;
  if (samples.empty()) return result;
  std::sort(samples.begin(), samples.end());
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  auto at = [&](double p) {
    const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
    return samples[std::min(samples.size(), std::max<size_t>(rank, 1)) - 1];
  };
  result.p50 = at(50);
  result.p90 = at(90);
  result.p99 = at(99);
  return result;
}

}  // namespace

std::shared_ptr<Batcher> Batcher::create(BatcherOptions options, Run run, Post post, Deliver deliver) {
  std::shared_ptr<Batcher> batcher(new Batcher(options, std::move(run), std::move(post), std::move(deliver)));
  batcher->self_ = batcher;
  batcher->timer_ = std::thread([raw = batcher.get()] { raw->timerLoop(); });
  return batcher;
}

Batcher::Batcher(BatcherOptions options, Run run, Post post, Deliver deliver)
    : options_(options),
      run_(std::move(run)),
      post_(std::move(post)),
      deliver_(std::move(deliver)),
      delay_(
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(options.maxDelayMs))),
      queue_(options.maxBatchSize) {}

Batcher::~Batcher() { shutdown(); }

void Batcher::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
  }
  timerWake_.notify_all();
  if (!timer_.joinable()) return;
  // The last owner may be a drain task on the executor, never the timer thread itself (it holds no
  // owner); still, a thread cannot join itself.
  if (timer_.get_id() == std::this_thread::get_id()) {
    timer_.detach();
  } else {
    timer_.join();
  }
}

void Batcher::submit(BatchRequest request) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_ || stopped_) throw Error::torchvideo(codes::kDisposed, "the batcher is closed");
  const int64_t clips = request.clips();
  if (queue_.queuedClips() + clips > options_.maxQueueClips) {
    ++counters_.rejected;
    throw Error::torchvideo(codes::kQueueFull, "the batcher's queue is full: " + std::to_string(queue_.queuedClips()) +
                                                   " clips queued, " + std::to_string(clips) +
                                                   " more would pass maxQueueClips " +
                                                   std::to_string(options_.maxQueueClips));
  }
  ++counters_.requests;
  counters_.clips += clips;
  const auto now = Clock::now();
  request.enqueued = now;
  const bool hasDeadline = request.deadline.has_value();
  queue_.push(std::move(request));
  scheduleLocked(now);
  if (hasDeadline) timerWake_.notify_one();
}

bool Batcher::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (queue_.remove(id)) {
    ++counters_.aborted;
    return true;
  }
  if (running_.count(id) != 0) ++counters_.aborted;
  return false;
}

void Batcher::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  // No company will come now: what waits for it runs.
  scheduleLocked(Clock::now());
}

BatcherStats Batcher::stats() {
  std::vector<double> queueSamples, computeSamples;
  BatcherStats stats;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats = counters_;
    stats.queuedClips = queue_.queuedClips();
    stats.queuedRequests = queue_.queuedRequests();
    queueSamples = queueSamples_;
    computeSamples = computeSamples_;
  }
  stats.queueMs = percentilesOf(std::move(queueSamples));
  stats.computeMs = percentilesOf(std::move(computeSamples));
  return stats;
}

int64_t Batcher::queuedClips() {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.queuedClips();
}

void Batcher::recordLocked(std::vector<double>& samples, size_t& next, double value) {
  if (samples.size() < kLatencySamples) {
    samples.push_back(value);
  } else {
    samples[next] = value;
    next = (next + 1) % kLatencySamples;
  }
}

// Posts a drain when one should run now; otherwise the timer thread posts it when the oldest request
// has waited maxDelayMs.
void Batcher::scheduleLocked(Clock::time_point now) {
  if (busy_ || stopped_ || queue_.empty()) return;
  const bool waitForCompany = options_.maxDelayMs > 0 && !closed_ && queue_.select().clips < options_.maxBatchSize &&
                              now < *queue_.oldestEnqueued() + delay_;
  if (waitForCompany) {
    timerWake_.notify_one();
    return;
  }
  busy_ = true;
  post_([self = self_.lock()] {
    if (self) self->drain();
  });
}

std::vector<BatchOutcome> Batcher::expireLocked(Clock::time_point now) {
  std::vector<BatchOutcome> outcomes;
  for (auto& request : queue_.takeExpired(now)) {
    ++counters_.timedOut;
    BatchOutcome outcome;
    outcome.id = request.id;
    outcome.kind = BatchOutcome::Kind::TimedOut;
    outcome.queueMs = millisecondsBetween(request.enqueued, now);
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

void Batcher::drain() {
  std::vector<BatchRequest> batch;
  std::vector<BatchOutcome> expired;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    busy_ = false;
    if (stopped_) return;
    const auto now = Clock::now();
    expired = expireLocked(now);
    if (!queue_.empty()) {
      batch = queue_.take(queue_.select());
      for (const auto& request : batch) running_.insert(request.id);
      busy_ = true;
    }
  }
  if (!expired.empty()) deliver_(std::move(expired), std::nullopt);
  if (batch.empty()) return;

  BatchReport report;
  auto outcomes = runBatch(batch, report);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& request : batch) running_.erase(request.id);
    ++counters_.batches;
    ++counters_.batchSizes[report.clips];
    for (const auto& outcome : outcomes) {
      if (outcome.kind == BatchOutcome::Kind::Failed) ++counters_.failed;
    }
    for (double queueMs : report.queueMs) recordLocked(queueSamples_, nextQueueSample_, queueMs);
    for (size_t i = 0; i < batch.size(); ++i) recordLocked(computeSamples_, nextComputeSample_, report.computeMs);
    busy_ = false;
    scheduleLocked(Clock::now());
  }
  deliver_(std::move(outcomes), std::move(report));
}

std::vector<BatchOutcome> Batcher::runBatch(std::vector<BatchRequest>& batch, BatchReport& report) {
  const auto started = Clock::now();
  std::vector<BatchOutcome> outcomes(batch.size());
  std::vector<torch::Tensor> inputs;
  std::vector<size_t> running;  // indices into batch of the requests that go into the forward
  for (size_t i = 0; i < batch.size(); ++i) {
    outcomes[i].id = batch[i].id;
    outcomes[i].queueMs = millisecondsBetween(batch[i].enqueued, started);
    report.queueMs.push_back(outcomes[i].queueMs);
    // A request holding NaN fails alone, with the message its own forward would give.
    try {
      checkFiniteInputs({batch[i].input}, false);
    } catch (...) {
      outcomes[i].kind = BatchOutcome::Kind::Failed;
      outcomes[i].error = std::current_exception();
      continue;
    }
    inputs.push_back(batch[i].input);
    running.push_back(i);
    report.clips += batch[i].clips();
  }
  report.requests = static_cast<int64_t>(running.size());
  if (!inputs.empty()) {
    try {
      const auto logits = run_(inputs);
      int64_t row = 0;
      for (size_t i : running) {
        const int64_t rows = batch[i].clips();
        // A copy of its own rows: a caller's tensor must not keep the whole batch's logits alive.
        outcomes[i].logits = logits.narrow(0, row, rows).clone();
        row += rows;
      }
    } catch (...) {
      // The batch fails (out of memory, say): only its own requests, with the reason.
      const auto error = std::current_exception();
      for (size_t i : running) {
        outcomes[i].kind = BatchOutcome::Kind::Failed;
        outcomes[i].error = error;
        outcomes[i].logits = torch::Tensor();
      }
    }
  }
  report.computeMs = millisecondsBetween(started, Clock::now());
  // The inputs are let go here, on the executor, not when the JS thread settles.
  for (auto& request : batch) request.input = torch::Tensor();
  return outcomes;
}

void Batcher::timerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopped_) {
    const auto now = Clock::now();
    auto expired = expireLocked(now);
    if (!expired.empty()) {
      lock.unlock();
      deliver_(std::move(expired), std::nullopt);
      lock.lock();
      continue;
    }
    scheduleLocked(now);
    std::optional<Clock::time_point> wake = queue_.earliestDeadline();
    if (options_.maxDelayMs > 0 && !busy_ && !queue_.empty()) {
      const auto flush = *queue_.oldestEnqueued() + delay_;
      if (!wake || flush < *wake) wake = flush;
    }
    if (wake) {
      timerWake_.wait_until(lock, *wake);
    } else {
      timerWake_.wait(lock);
    }
  }
}

}  // namespace torchvideo::serving

#include "cpp/distributed/gradient_reducer.h"

#include <chrono>

namespace torchvideo {

GradientReducer::GradientReducer(std::shared_ptr<DistributedGroup> group, std::vector<torch::Tensor> parameters,
                                 ReducerOptions options)
    : group_(std::move(group)), parameters_(std::move(parameters)), options_(options) {
  slots_.resize(parameters_.size());
  filled_.assign(parameters_.size(), false);
  // Reverse order: the classifier's gradients come first out of backward, the stem's last.
  int64_t bucketBytes = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const auto& parameter = parameters_[k];
    const int64_t bytes = parameter.numel() * static_cast<int64_t>(parameter.element_size());
    bool fresh = buckets_.empty();
    if (!fresh) {
      const auto& first = parameters_[buckets_.back().parameters.front()];
      const int64_t cap = buckets_.size() == 1 ? options_.firstBucketBytes : options_.bucketBytes;
      // One flat tensor holds one dtype on one device.
      fresh = first.scalar_type() != parameter.scalar_type() || first.device() != parameter.device() ||
              bucketBytes + bytes > cap;
    }
    if (fresh) {
      buckets_.emplace_back();
      bucketBytes = 0;
    }
    slots_[k] =
        Slot{buckets_.size() - 1, bucketBytes / static_cast<int64_t>(parameter.element_size()), parameter.numel()};
    buckets_.back().parameters.push_back(k);
    bucketBytes += bytes;
  }
  for (auto& bucket : buckets_) {
    int64_t numel = 0;
    for (auto k : bucket.parameters) numel += parameters_[k].numel();
    const auto& first = parameters_[bucket.parameters.front()];
    bucket.flat = torch::zeros({numel}, first.options().requires_grad(false));
  }
  for (size_t k = 0; k < parameters_.size(); ++k) {
    hooks_.push_back(
        parameters_[k].register_hook([this, k](const torch::Tensor& gradient) { onGradient(k, gradient); }));
  }
}

GradientReducer::~GradientReducer() {
  for (size_t k = 0; k < parameters_.size(); ++k) parameters_[k].remove_hook(hooks_[k]);
}

void GradientReducer::prepare() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& bucket : buckets_) {
    bucket.pending = bucket.parameters.size();
    bucket.launched = false;
    bucket.work.reset();
  }
  filled_.assign(parameters_.size(), false);
  next_ = 0;
  launchedDuringBackward_ = 0;
  inBackward_ = true;
}

void GradientReducer::onGradient(size_t parameter, const torch::Tensor& gradient) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!inBackward_ || filled_[parameter]) return;
  const auto& slot = slots_[parameter];
  auto& bucket = buckets_[slot.bucket];
  torch::NoGradGuard noGrad;
  bucket.flat.narrow(0, slot.offset, slot.numel).copy_(gradient.reshape({-1}));
  filled_[parameter] = true;
  --bucket.pending;
  if (options_.overlap) launchReady();
}

void GradientReducer::launchReady() {
  while (next_ < buckets_.size() && buckets_[next_].pending == 0) {
    launch(buckets_[next_], next_);
    if (inBackward_) ++launchedDuringBackward_;
    ++next_;
  }
}

void GradientReducer::launch(Bucket& bucket, size_t index) {
  bucket.launched = true;
  bucket.work = group_->allreduceSumAsync(bucket.flat, "allreduce of gradient bucket " + std::to_string(index + 1) +
                                                           " of " + std::to_string(buckets_.size()));
}

ReducerStats GradientReducer::finish() {
  const auto start = std::chrono::steady_clock::now();
  ReducerStats stats;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    inBackward_ = false;
    torch::NoGradGuard noGrad;
    // A parameter that took no part in this step's graph still sends its (zero) share.
    for (size_t k = 0; k < parameters_.size(); ++k) {
      if (filled_[k]) continue;
      const auto& slot = slots_[k];
      buckets_[slot.bucket].flat.narrow(0, slot.offset, slot.numel).zero_();
      filled_[k] = true;
      --buckets_[slot.bucket].pending;
    }
    launchReady();
    stats.buckets = static_cast<int>(buckets_.size());
    stats.launchedDuringBackward = launchedDuringBackward_;
  }
  torch::NoGradGuard noGrad;
  const double world = group_->worldSize();
  for (auto& bucket : buckets_) {
    bucket.work->wait();
    bucket.work.reset();
    bucket.flat.div_(world);
    for (auto k : bucket.parameters) {
      auto& parameter = parameters_[k];
      const auto& slot = slots_[k];
      auto averaged = bucket.flat.narrow(0, slot.offset, slot.numel).view(parameter.sizes());
      auto& gradient = parameter.mutable_grad();
      if (gradient.defined()) {
        gradient.copy_(averaged);
      } else {
        gradient = averaged.clone();
      }
    }
  }
  stats.exposedSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

void GradientReducer::abandon() {
  std::vector<std::unique_ptr<DistributedGroup::Pending>> inFlight;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    inBackward_ = false;
    for (auto& bucket : buckets_) {
      if (bucket.work) inFlight.push_back(std::move(bucket.work));
    }
  }
  for (auto& work : inFlight) {
    try {
      work->wait();
    } catch (...) {
      // The step already failed with its own error; this bucket's is a consequence of it.
    }
  }
}

}  // namespace torchvideo

// Averages gradients across the ranks the way DistributedDataParallel does: the trained parameters are
// packed, in reverse order (the order backward produces their gradients), into buckets of about 25 MB
// (the first one 1 MB, so communication starts early); a hook on each parameter copies its gradient
// into its bucket as autograd produces it, and a full bucket is allreduced at once, while backward goes
// on with the layers below. Buckets are launched strictly in order, so every rank issues the same
// collectives in the same sequence. After backward, finish() waits for the rest and writes the
// averages (sum / world size: Gloo has no AVG) back as the parameters' gradients.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "cpp/distributed/group.h"

namespace torchvideo {

struct ReducerOptions {
  int64_t bucketBytes = 25 * 1024 * 1024;
  int64_t firstBucketBytes = 1024 * 1024;
  // False: every bucket waits for the end of backward (no overlap); for measuring what overlap hides.
  bool overlap = true;
};

struct ReducerStats {
  int buckets = 0;
  // Buckets launched before backward returned.
  int launchedDuringBackward = 0;
  // Time finish() spent launching and waiting after backward: the communication not hidden.
  double exposedSeconds = 0;
};

class GradientReducer {
 public:
  GradientReducer(std::shared_ptr<DistributedGroup> group, std::vector<torch::Tensor> parameters,
                  ReducerOptions options = {});
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before each backward.
  void prepare();
  // After backward: every parameter's .grad becomes the mean of the ranks' gradients. A parameter
  // that got no gradient on this rank contributes zeros (every rank still sends every bucket).
  ReducerStats finish();
  // After a failed step: waits for every allreduce still in flight (their errors are dropped: the step
  // already failed with the first), so that nothing writes the buckets any more.
  void abandon();

  size_t bucketCount() const { return buckets_.size(); }

 private:
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;
    int64_t numel = 0;
  };
  struct Bucket {
    torch::Tensor flat;
    std::vector<size_t> parameters;
    size_t pending = 0;
    bool launched = false;
    std::unique_ptr<DistributedGroup::Pending> work;
  };

  void onGradient(size_t parameter, const torch::Tensor& gradient);
  // Launches the ready buckets from next_ on, in order. Caller holds mutex_.
  void launchReady();
  void launch(Bucket& bucket, size_t index);

  std::shared_ptr<DistributedGroup> group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<Slot> slots_;
  std::vector<bool> filled_;
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hooks_;
  ReducerOptions options_;
  std::mutex mutex_;
  size_t next_ = 0;
  bool inBackward_ = false;
  int launchedDuringBackward_ = 0;
};

}  // namespace torchvideo

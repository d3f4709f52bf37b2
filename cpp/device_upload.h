// Host-to-GPU transfers that overlap compute. A model's executor queues batch b + 1 while the GPU still
// runs batch b; its inputs are copied on a side stream, so the DMA runs beside b's kernels instead of
// after them, and the compute stream waits for the copy through an event (no host sync).
#pragma once

#include <torch/types.h>

#include <optional>
#include <vector>

namespace torchvideo {

class DeviceUploader {
 public:
  explicit DeviceUploader(torch::Device device) : device_(device) {}

  // `pieces` on the device, in order. Pieces already there come back as they are. On CUDA, host pieces
  // travel on the side stream, asynchronously when they are pinned (the pinned allocator keeps their
  // memory until the copy ends), and work queued on the current stream afterwards sees them complete;
  // their device memory is marked as used by the current stream, so the caching allocator doesn't hand
  // it to the next copy while a kernel still reads it. Must be called from one thread at a time.
  std::vector<torch::Tensor> upload(const std::vector<torch::Tensor>& pieces);

 private:
  torch::Device device_;
  std::optional<c10::Stream> copyStream_;
};

}  // namespace torchvideo

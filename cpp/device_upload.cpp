#include "cpp/device_upload.h"

// The device-generic stream and event interfaces: they compile against a CPU-only LibTorch too, and
// reach CUDA's implementation at run time when the LibTorch has one.
#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>

namespace torchvideo {

std::vector<torch::Tensor> DeviceUploader::upload(const std::vector<torch::Tensor>& pieces) {
  std::vector<torch::Tensor> out(pieces.size());
  if (!device_.is_cuda()) {
    for (size_t i = 0; i < pieces.size(); ++i)
      out[i] = pieces[i].device() == device_ ? pieces[i] : pieces[i].to(device_);
    return out;
  }
  const c10::Device device(c10::DeviceType::CUDA, device_.has_index() ? device_.index() : 0);
  c10::impl::VirtualGuardImpl cuda(c10::DeviceType::CUDA);
  const c10::Stream compute = cuda.getStream(device);
  if (!copyStream_) copyStream_ = cuda.getStreamFromGlobalPool(device);

  bool copied = false;
  {
    c10::StreamGuard onCopyStream(*copyStream_);
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (pieces[i].device() == device) {
        out[i] = pieces[i];
        continue;
      }
      out[i] = pieces[i].to(device, /*non_blocking=*/pieces[i].is_pinned());
      copied = true;
    }
  }
  if (copied) {
    c10::Event done(c10::DeviceType::CUDA);
    done.record(*copyStream_);
    done.block(compute);
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (pieces[i].device() != device) cuda.recordDataPtrOnStream(out[i].storage().data_ptr(), compute);
    }
  }
  return out;
}

}  // namespace torchvideo

#include "cpp/train/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TORCHVIDEO_AUTOCAST_PER_DEVICE 1
#endif

namespace torchvideo {

CudaAutocastGuard::CudaAutocastGuard(bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
#ifdef TORCHVIDEO_AUTOCAST_PER_DEVICE
  wasEnabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kHalf);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
  wasEnabled_ = at::autocast::is_enabled();
  at::autocast::set_autocast_gpu_dtype(at::kHalf);
  at::autocast::set_enabled(true);
#endif
  at::autocast::increment_nesting();
}

CudaAutocastGuard::~CudaAutocastGuard() {
  if (!enabled_) return;
  // As torch.autocast's __exit__: the float16 copies of the weights cached for this pass are freed
  // when the outermost autocast region ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef TORCHVIDEO_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_enabled(at::kCUDA, wasEnabled_);
#else
  at::autocast::set_enabled(wasEnabled_);
#endif
}

}  // namespace torchvideo

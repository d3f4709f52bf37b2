// Mixed precision for one forward pass: ops that autocast lists (convolutions, matmuls) run in
// float16 on CUDA, the rest in float32. The one place that knows autocast's API, which changed in
// LibTorch 2.4 (per-device-type setters replaced the CUDA-only ones).
#pragma once

namespace torchvideo {

class CudaAutocastGuard {
 public:
  // Does nothing when `enabled` is false.
  explicit CudaAutocastGuard(bool enabled);
  ~CudaAutocastGuard();
  CudaAutocastGuard(const CudaAutocastGuard&) = delete;
  CudaAutocastGuard& operator=(const CudaAutocastGuard&) = delete;

 private:
  bool enabled_;
  bool wasEnabled_ = false;
};

}  // namespace torchvideo

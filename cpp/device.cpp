#include "cpp/device.h"

#include <regex>

#include "cpp/errors.h"

namespace torchvideo {

bool cudaAvailable() { return torch::cuda::is_available(); }

int cudaDeviceCount() { return static_cast<int>(torch::cuda::device_count()); }

torch::Device resolveDevice(const std::string& device) {
  static const std::regex kDevicePattern("^(cpu|cuda)(?::(\\d{1,3}))?$");
  std::smatch match;
  if (!std::regex_match(device, match, kDevicePattern) || (match[1] == "cpu" && match[2].matched)) {
    throw Error::range("expected device to be 'cpu', 'cuda' or 'cuda:N', got '" + device + "'");
  }
  if (match[1] == "cpu") return torch::Device(torch::kCPU);

  const int index = match[2].matched ? std::stoi(match[2].str()) : 0;
  if (!cudaAvailable()) {
    throw Error::torchvideo(codes::kDeviceUnavailable,
                            "device '" + device +
                                "' is not available: this LibTorch has no usable CUDA (a CPU-only build, or no "
                                "NVIDIA driver/GPU). Build against a CUDA LibTorch with LIBTORCH=/path/to/libtorch "
                                "npm run build, or use device 'cpu'");
  }
  const int count = cudaDeviceCount();
  if (index >= count) {
    throw Error::torchvideo(codes::kDeviceUnavailable,
                            "device '" + device + "' is not available: this machine has " + std::to_string(count) +
                                " CUDA device(s), cuda:0 to cuda:" + std::to_string(count - 1));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string deviceName(const torch::Device& device) {
  if (device.is_cpu()) return "cpu";
  return "cuda:" + std::to_string(device.has_index() ? device.index() : 0);
}

}  // namespace torchvideo

namespace torchvideo {

torch::Tensor copyToDevice(const torch::Tensor& tensor, const torch::Device& device) {
  if (device.is_cuda() && tensor.device().is_cpu()) {
    return tensor.pin_memory().to(device, /*non_blocking=*/true);
  }
  if (tensor.device() == device) return tensor.clone();
  return tensor.to(device);
}

}  // namespace torchvideo

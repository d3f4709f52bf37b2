// Device strings ('cpu', 'cuda', 'cuda:N') and what this LibTorch build can run on.
#pragma once

#include <torch/torch.h>

#include <string>

namespace torchvideo {

bool cudaAvailable();
int cudaDeviceCount();

// Parses and checks a device string. Throws Error::range for a malformed string and a
// TorchVideoError (ERR_DEVICE_UNAVAILABLE) naming the device and the reason when CUDA is asked for
// and this LibTorch has none, or has fewer devices.
torch::Device resolveDevice(const std::string& device);

// The canonical name of a device: 'cpu' or 'cuda:N'.
std::string deviceName(const torch::Device& device);

}  // namespace torchvideo

namespace torchvideo {

// Copies a tensor to another device. Host-to-GPU copies go through pinned memory so the transfer
// is a real DMA; the caching host allocator keeps the pinned buffer until the copy completes.
// Always returns a new tensor, also when it is already on `device`.
torch::Tensor copyToDevice(const torch::Tensor& tensor, const torch::Device& device);

}  // namespace torchvideo

#include "cpp/distributed/nccl_gpu_guard.h"

#if TORCHVIDEO_DISTRIBUTED && TORCHVIDEO_WITH_NCCL
#include <ATen/cuda/CUDAContext.h>
#include <unistd.h>

#include <cstdint>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cpp/errors.h"

namespace torchvideo {
namespace {

std::string hostName() {
  char name[256] = {};
  return gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string("?");
}

}  // namespace

void refuseSharedGpus(const GroupOptions& options, c10d::Store& store, bool storeHost) {
  const auto index = options.device.has_index() ? options.device.index() : c10::cuda::current_device();
  const cudaDeviceProp* properties = at::cuda::getDeviceProperties(index);
  std::ostringstream id;
  id << hostName() << " (GPU ";
  for (const char byte : properties->uuid.bytes) {
    id << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(static_cast<unsigned char>(byte));
  }
  id << ")";
  const auto thisRanksGpu = id.str();
  store.set("gpu/" + std::to_string(options.rank), std::vector<uint8_t>(thisRanksGpu.begin(), thisRanksGpu.end()));
  std::map<std::string, int> firstRank;
  std::string shared;
  for (int r = 0; r < options.worldSize && shared.empty(); ++r) {
    const auto value = store.get("gpu/" + std::to_string(r));
    const std::string gpu(value.begin(), value.end());
    const auto [first, fresh] = firstRank.emplace(gpu, r);
    if (!fresh) {
      shared = "ranks " + std::to_string(first->second) + " and " + std::to_string(r) + " share one GPU on " + gpu;
    }
  }
  store.set("gpu-read/" + std::to_string(options.rank), std::vector<uint8_t>{1});
  if (shared.empty()) return;
  if (storeHost) {
    std::vector<std::string> everyone;
    for (int r = 0; r < options.worldSize; ++r) everyone.push_back("gpu-read/" + std::to_string(r));
    store.wait(everyone);
  }
  throw Error::torchvideo(codes::kDistributed,
                          shared +
                              ": NCCL needs a GPU of its own for each rank (start as many ranks on a machine "
                              "as it has GPUs, or join with backend 'gloo', which lets ranks share one)");
}

}  // namespace torchvideo
#endif

#include "cpp/distributed/state_sync.h"

#include <map>
#include <utility>

namespace torchvideo {

void broadcastInPlace(DistributedGroup& group, const std::vector<torch::Tensor>& tensors, int root,
                      const std::string& what) {
  torch::NoGradGuard noGrad;
  // (dtype, device) -> the tensors of that kind, in the given order (the same on every rank).
  std::map<std::pair<int, std::string>, std::vector<torch::Tensor>> kinds;
  for (const auto& tensor : tensors) {
    if (tensor.numel() == 0) continue;
    kinds[{static_cast<int>(tensor.scalar_type()), tensor.device().str()}].push_back(tensor);
  }
  std::vector<torch::Tensor> flats;
  for (auto& [kind, members] : kinds) {
    std::vector<torch::Tensor> pieces;
    for (const auto& tensor : members) pieces.push_back(tensor.reshape({-1}));
    flats.push_back(torch::cat(pieces));
  }
  group.broadcast(flats, root, what);
  size_t index = 0;
  for (auto& [kind, members] : kinds) {
    int64_t offset = 0;
    for (auto& tensor : members) {
      tensor.copy_(flats[index].narrow(0, offset, tensor.numel()).view(tensor.sizes()));
      offset += tensor.numel();
    }
    ++index;
  }
}

}  // namespace torchvideo

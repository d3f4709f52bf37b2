// Copies rank 0's tensors (a network's parameters, its batch-norm statistics) to every rank in a few
// collectives: the tensors are packed into one flat tensor per dtype and device, broadcast, and
// unpacked in place. Like DDP at construction (parameters and buffers) and before each forward
// (buffers, broadcast_buffers=True).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "cpp/distributed/group.h"

namespace torchvideo {

void broadcastInPlace(DistributedGroup& group, const std::vector<torch::Tensor>& tensors, int root,
                      const std::string& what);

}  // namespace torchvideo

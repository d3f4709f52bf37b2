// NCCL fails late and vaguely ("invalid usage") when two ranks drive one GPU: before an NCCL group is
// made, every rank publishes which GPU it drives and refuses a GPU that another rank has too. Apart
// from group.cpp because it is NCCL's alone and needs CUDA's headers.
#pragma once

#if TORCHVIDEO_DISTRIBUTED && TORCHVIDEO_WITH_NCCL
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "cpp/distributed/group.h"

namespace torchvideo {

// Every rank publishes its host and its GPU's UUID (not the index: CUDA_VISIBLE_DEVICES can show two
// ranks different GPUs as cuda:0) and refuses a shared one, naming the ranks (ERR_DISTRIBUTED).
// `storeHost`: this rank hosts the store, and waits until every rank has read the others before it
// may leave, so each gets this message rather than a lost store.
void refuseSharedGpus(const GroupOptions& options, c10d::Store& store, bool storeHost);

}  // namespace torchvideo
#endif

// The key-value store the ranks of a job meet through (c10d's rendezvous: Gloo's and NCCL's setup, our
// heartbeats). c10d's stores are unauthenticated: whoever reaches one can read and write its keys
// (rewrite Gloo's rendezvous, forge heartbeats). So a job whose ranks are all on this host opens no
// network-facing socket at all:
//   - local jobs (the master address is loopback, as `torchvideo launch` sets it): a c10d::FileStore in
//     a private (0700) folder that rank 0 makes; the other ranks learn its path from rank 0 over a
//     socket bound to 127.0.0.1:masterPort (LibTorch 1.13's TCPStore listens on every interface,
//     whatever address it is given, so it cannot be used here);
//   - multi-host jobs: c10d's TCPStore hosted by rank 0, which listens on every interface, for trusted
//     networks only (README, "Security");
//   - a launcher's agent store (torchrun): every rank is its client.
#pragma once

#include <torch/torch.h>

#if TORCHVIDEO_DISTRIBUTED
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "cpp/distributed/group.h"

namespace torchvideo {

// True when every rank of a job with this master address runs on this host.
bool isLoopbackAddress(const std::string& address);

class JobStore {
 public:
  // Joins (rank 0: hosts) the job's store; blocks until it is reachable or options.timeout passed.
  // Throws std::runtime_error / c10::Error saying what failed; the caller names the rank and address.
  static std::unique_ptr<JobStore> open(const GroupOptions& options);
  virtual ~JobStore() = default;

  // The store the process group uses, under our key prefix.
  virtual c10::intrusive_ptr<c10d::Store> store() = 0;
  // A second connection to the same store (the heartbeat beats over its own), under the same prefix,
  // whose operations give up after `reply`.
  virtual c10::intrusive_ptr<c10d::Store> connectAgain(std::chrono::milliseconds reply) = 0;
  // What this rank exposes, for rank 0's log line: "" when nothing listens beyond loopback.
  virtual std::string exposure() const = 0;
  // Where the store is, for error messages: "rank 0's store at 10.0.0.1:29500", ...
  virtual std::string describe() const = 0;
  // The rank leaves: the last one out removes a local store's folder.
  virtual void leave() = 0;
};

}  // namespace torchvideo
#endif

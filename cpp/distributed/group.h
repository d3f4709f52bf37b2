// A process group of a multi-process job: PyTorch's own collective engine, c10d, with Gloo (CPU
// tensors, and CUDA tensors through host staging) or NCCL (CUDA, when the LibTorch has it). The store
// the ranks meet through is cpp/distributed/job_store.h's: a private file store for a job on one host,
// a TCPStore hosted by rank 0 across hosts, or a launcher's agent's (torchrun) that every rank joins as a
// client under a key prefix. Built only when the build found c10d and the headers of
// Gloo or NCCL (CMakeLists.txt defines TORCHVIDEO_DISTRIBUTED); otherwise create() says how to get them.
//
// A collective that fails (a rank died, the network broke, the timeout passed) throws ERR_DISTRIBUTED
// naming what failed on this rank and, where the store can still tell, which rank stopped: every rank
// beats a heartbeat into the store (heartbeat.h), and the ranks whose beat ended are the ones named.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpp/distributed/collective_order.h"

namespace torchvideo {

struct GroupOptions {
  int rank = 0;
  int worldSize = 1;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  // A launcher's agent already hosts the store: every rank (rank 0 too) connects as a client.
  bool agentStore = false;
  // Key prefix in the store (torchrun's agent store: /worker/attempt_<restart>).
  std::string storePrefix;
  // How long joining and each collective may wait for the other ranks.
  std::chrono::milliseconds timeout{300000};
  // The device whose tensors the collectives carry: NCCL for CUDA where built with it, else Gloo.
  torch::Device device{torch::kCPU};
  // "gloo" or "nccl" to choose; empty: NCCL for a CUDA device where built with it, else Gloo. Gloo on
  // CUDA is for ranks that share a GPU, which NCCL refuses.
  std::string backend;
};

class DistributedGroup {
 public:
  // Joins the job: blocks until every rank has joined or the timeout passed. Throws ERR_DISTRIBUTED
  // (a rank that never came, an address that cannot be reached or bound), Error::range for options.
  static std::shared_ptr<DistributedGroup> create(const GroupOptions& options);
  // True when this build has c10d (TORCHVIDEO_DISTRIBUTED); and which engines it has.
  static bool available();
  static bool glooAvailable();
  static bool ncclAvailable();
  // Sets the environment c10d's engines read (NCCL's async error handling): once, at load, before any
  // thread of ours starts.
  static void prepareEnvironment();

  virtual ~DistributedGroup() = default;

  // The order every job that issues this group's collectives takes its turn in (collective_order.h).
  const std::shared_ptr<CollectiveOrder>& order() const { return order_; }

  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  // 'gloo' or 'nccl'.
  virtual std::string backend() const = 0;
  // What this rank exposes on the network, for the log ("" when nothing listens beyond loopback).
  virtual std::string exposure() const = 0;
  virtual const GroupOptions& options() const = 0;

  // Each call is a collective: every rank makes the same calls in the same order, or they pair up
  // wrongly. All but the *Async ones wait for the result; `what` names the operation in errors.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) = 0;
  virtual void allreduceSum(torch::Tensor& tensor, const std::string& what) = 0;
  // Every rank's bytes, in rank order (sizes may differ between ranks).
  virtual std::vector<std::string> allgatherBytes(const std::string& bytes, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;

  // An allreduce (sum) left running; wait() collects it.
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual void wait() = 0;
  };
  virtual std::unique_ptr<Pending> allreduceSumAsync(torch::Tensor& tensor, const std::string& what) = 0;

 private:
  std::shared_ptr<CollectiveOrder> order_ = std::make_shared<CollectiveOrder>();
};

}  // namespace torchvideo

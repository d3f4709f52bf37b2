#include "cpp/distributed/group.h"

#include "cpp/errors.h"
#include "cpp/torch_errors.h"

#if TORCHVIDEO_DISTRIBUTED
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "cpp/distributed/heartbeat.h"
#include "cpp/distributed/job_store.h"
#if TORCHVIDEO_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if TORCHVIDEO_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "cpp/distributed/nccl_gpu_guard.h"
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>
#endif

namespace torchvideo {

bool DistributedGroup::available() { return TORCHVIDEO_DISTRIBUTED != 0; }

bool DistributedGroup::glooAvailable() { return TORCHVIDEO_DISTRIBUTED && TORCHVIDEO_WITH_GLOO; }

bool DistributedGroup::ncclAvailable() { return TORCHVIDEO_DISTRIBUTED && TORCHVIDEO_WITH_NCCL; }

void DistributedGroup::prepareEnvironment() {
#if TORCHVIDEO_DISTRIBUTED && TORCHVIDEO_WITH_NCCL
  // A rank that dies mid-collective must fail the others at the timeout, not hang them (PyTorch's
  // launchers set this; LibTorch 2.2+ reads the TORCH_ spelling). An explicit setting is kept. Set at
  // load, on the JS thread, before this addon starts any thread: setenv races getenv on other threads.
  setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);
#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 2)
  setenv("NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);  // 2.2+ warns that this name is deprecated
#endif
#endif
}

#if !TORCHVIDEO_DISTRIBUTED

std::shared_ptr<DistributedGroup> DistributedGroup::create(const GroupOptions&) {
  throw Error::torchvideo(codes::kDistributed,
                          "this build of torchvideo has no distributed support: it was built without the headers "
                          "of c10d's engines (Gloo: install Debian's libgloo-dev or set GLOO_INCLUDE_DIR; NCCL: a "
                          "CUDA LibTorch and nccl.h, or set NCCL_INCLUDE_DIR; then rebuild)");
}

#else

namespace {

// The common base of the c10d backends: ProcessGroup up to LibTorch 1.13, Backend from 2.0 on (where
// ProcessGroup became a dispatcher over backends). Both declare the same virtual collectives.
#if TORCH_VERSION_MAJOR >= 2
using CollectiveBackend = c10d::Backend;
#else
using CollectiveBackend = c10d::ProcessGroup;
#endif

// The most bytes one rank may contribute to allgatherBytes (reports and journals are far smaller): a
// length announced by a peer beyond it is refused before it sizes anything.
constexpr int64_t kMaxGatherBytes = int64_t{1} << 30;

std::string seconds(std::chrono::milliseconds duration) {
  std::ostringstream text;
  text << static_cast<double>(duration.count()) / 1000 << " s";
  return text.str();
}

#if TORCHVIDEO_WITH_GLOO
std::shared_ptr< ::gloo::transport::Device> glooDevice(const GroupOptions& options) {
  // GLOO_SOCKET_IFNAME picks the interface, as in PyTorch. On loopback every rank is on this machine;
  // otherwise the address this machine's hostname resolves to (PyTorch's default).
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface != nullptr && *interface != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (isLoopbackAddress(options.masterAddr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

class C10dGroup : public DistributedGroup, public std::enable_shared_from_this<C10dGroup> {
 public:
  explicit C10dGroup(const GroupOptions& options) : options_(options) {
    jobStore_ = JobStore::open(options);
    store_ = jobStore_->store();
    heartbeat_ = std::make_unique<Heartbeat>(options, *jobStore_);
#if TORCHVIDEO_WITH_NCCL
    if (options.device.is_cuda() && options.backend != "gloo") {
      // NCCL's async error handling was switched on at load (prepareEnvironment).
      const bool storeHost = options.rank == 0 && !options.agentStore;
      refuseSharedGpus(options, *store_, storeHost);
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = options.timeout;
      backend_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, options.rank, options.worldSize, nccl);
      backendName_ = "nccl";
      return;
    }
#endif
#if TORCHVIDEO_WITH_GLOO
    auto gloo = c10d::ProcessGroupGloo::Options::create(options.timeout);
    gloo->devices.push_back(glooDevice(options));
    backend_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, options.rank, options.worldSize, gloo);
    backendName_ = "gloo";
#else
    throw std::logic_error("no engine for this device: checkOptions lets no such group through");
#endif
  }

  ~C10dGroup() override {
    // Every user of the store goes before the rank leaves it (a local store's folder is removed by the
    // last rank out, and c10d's FileStore writes to its file when it is destroyed).
    backend_.reset();
    heartbeat_.reset();
    store_.reset();
    try {
      jobStore_->leave();
    } catch (...) {
      // Best effort: a folder left behind is private to this user and holds no more than the keys.
    }
  }

  int rank() const override { return options_.rank; }
  int worldSize() const override { return options_.worldSize; }
  std::string exposure() const override { return jobStore_->exposure(); }
  std::string backend() const override { return backendName_; }
  const GroupOptions& options() const override { return options_; }

  void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) override {
    if (tensors.empty()) return;
    c10d::BroadcastOptions broadcast;
    broadcast.rootRank = root;
    // One tensor per call: c10d's vector is one tensor per device of this rank, not a list to send.
    std::vector<c10::intrusive_ptr<c10d::Work> > works;
    std::vector<std::vector<torch::Tensor> > inputs;
    for (auto& tensor : tensors) inputs.push_back({tensor});
    runCollective(what, [&] {
      for (auto& input : inputs) works.push_back(backend_->broadcast(input, broadcast));
      for (auto& work : works) work->wait();
    });
  }

  void allreduceSum(torch::Tensor& tensor, const std::string& what) override {
    auto onBackendDevice = toBackendDevice(tensor);
    std::vector<torch::Tensor> input{onBackendDevice};
    runCollective(what, [&] { backend_->allreduce(input)->wait(); });
    if (!onBackendDevice.is_same(tensor)) tensor.copy_(onBackendDevice);
  }

  std::vector<std::string> allgatherBytes(const std::string& bytes, const std::string& what) override {
    const int world = options_.worldSize;
    if (static_cast<int64_t>(bytes.size()) > kMaxGatherBytes) {
      throw Error::range(what + ": expected at most " + std::to_string(kMaxGatherBytes) + " bytes from one rank, got " +
                         std::to_string(bytes.size()));
    }
    auto size = toBackendDevice(torch::full({1}, static_cast<int64_t>(bytes.size()), torch::kInt64));
    std::vector<std::vector<torch::Tensor> > sizes(1);
    for (int r = 0; r < world; ++r) sizes[0].push_back(torch::empty_like(size));
    std::vector<torch::Tensor> sizeInput{size};
    runCollective(what, [&] { backend_->allgather(sizes, sizeInput)->wait(); });
    // Lengths come from the peers: each is checked before it sizes a buffer or a read. This rank's own
    // must come back as sent, and none may exceed what one rank can send (kMaxGatherBytes).
    int64_t largest = 0;
    std::vector<int64_t> lengths;
    for (int r = 0; r < world; ++r) {
      lengths.push_back(sizes[0][r].cpu().item<int64_t>());
      const bool isThisRank = r == options_.rank;
      if (lengths.back() < 0 || lengths.back() > kMaxGatherBytes ||
          (isThisRank && lengths.back() != static_cast<int64_t>(bytes.size()))) {
        throw Error::torchvideo(codes::kDistributed, what + " failed on rank " + std::to_string(options_.rank) +
                                                         ": rank " + std::to_string(r) + " announced " +
                                                         std::to_string(lengths.back()) + " bytes, outside [0, " +
                                                         std::to_string(kMaxGatherBytes) + "]" +
                                                         (isThisRank ? " or not what it sent" : ""));
      }
      largest = std::max(largest, lengths.back());
    }
    // Gloo's allgather wants equal sizes: every rank sends the longest length, zero-padded.
    auto padded = torch::zeros({std::max<int64_t>(largest, 1)}, torch::kUInt8);
    std::memcpy(padded.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    auto input = toBackendDevice(padded);
    std::vector<std::vector<torch::Tensor> > outputs(1);
    for (int r = 0; r < world; ++r) outputs[0].push_back(torch::empty_like(input));
    std::vector<torch::Tensor> inputs{input};
    runCollective(what, [&] { backend_->allgather(outputs, inputs)->wait(); });
    std::vector<std::string> gathered;
    for (int r = 0; r < world; ++r) {
      const auto cpu = outputs[0][r].cpu();
      gathered.emplace_back(reinterpret_cast<const char*>(cpu.data_ptr<uint8_t>()), lengths[r]);
    }
    return gathered;
  }

  void barrier(const std::string& what) override {
    runCollective(what, [&] { backend_->barrier()->wait(); });
  }

  class AsyncAllreduce : public Pending {
   public:
    AsyncAllreduce(std::shared_ptr<C10dGroup> group, c10::intrusive_ptr<c10d::Work> work, std::string what)
        : group_(std::move(group)), work_(std::move(work)), what_(std::move(what)) {}
    void wait() override {
      group_->runCollective(what_, [&] { work_->wait(); });
    }

   private:
    std::shared_ptr<C10dGroup> group_;
    c10::intrusive_ptr<c10d::Work> work_;
    std::string what_;
  };

  std::unique_ptr<Pending> allreduceSumAsync(torch::Tensor& tensor, const std::string& what) override {
    std::vector<torch::Tensor> input{tensor};
    c10::intrusive_ptr<c10d::Work> work;
    runCollective(what, [&] { work = backend_->allreduce(input); });
    return std::make_unique<AsyncAllreduce>(shared_from_this(), std::move(work), what);
  }

 private:
  // NCCL carries CUDA tensors only; Gloo takes CPU and CUDA tensors.
  torch::Tensor toBackendDevice(const torch::Tensor& tensor) const {
    if (backendName_ == "nccl" && !tensor.is_cuda()) return tensor.to(options_.device);
    return tensor;
  }

  template <typename Body>
  void runCollective(const std::string& what, Body&& body) {
    std::string detail;
    try {
      body();
      return;
    } catch (const Error&) {
      throw;
    } catch (const c10::Error& error) {
      detail = torchMessage(error.what_without_backtrace());
    } catch (const std::exception& error) {
      detail = torchMessage(error.what());
    }
    throw Error::torchvideo(codes::kDistributed, what + " failed on rank " + std::to_string(options_.rank) + " of " +
                                                     std::to_string(options_.worldSize) + ": " + diagnose() + " (" +
                                                     detail + ")");
  }

  // Which ranks stopped: those whose heartbeat did not move over kBeatWindow, read over the heartbeat's
  // connection to the store. When the store itself is gone, its host is what stopped.
  std::string diagnose() const {
    const std::string storeHolder = jobStore_->describe();
    std::vector<int> stopped;
    try {
      stopped = heartbeat_->stoppedRanks(options_.worldSize);
    } catch (const std::exception&) {
      return storeHolder + " has stopped or cannot be reached";
    }
    if (stopped.empty()) {
      return "every rank is still running: a network failure, or a rank that did not answer within the timeout of " +
             seconds(options_.timeout);
    }
    std::string names;
    for (size_t i = 0; i < stopped.size(); ++i) {
      names += (i == 0 ? "" : i + 1 == stopped.size() ? " and " : ", ") + std::to_string(stopped[i]);
    }
    return (stopped.size() == 1 ? "rank " + names + " has" : "ranks " + names + " have") +
           " stopped (no heartbeat for " + seconds(kBeatWindow) + ")";
  }

  GroupOptions options_;
  std::unique_ptr<JobStore> jobStore_;
  c10::intrusive_ptr<c10d::Store> store_;
  std::unique_ptr<Heartbeat> heartbeat_;
  c10::intrusive_ptr<CollectiveBackend> backend_;
  std::string backendName_;
};

void checkOptions(const GroupOptions& options) {
  if (options.worldSize < 1) throw Error::range("expected worldSize >= 1, got " + std::to_string(options.worldSize));
  if (options.rank < 0 || options.rank >= options.worldSize) {
    throw Error::range("expected rank in [0, " + std::to_string(options.worldSize) + "), got " +
                       std::to_string(options.rank));
  }
  if (options.masterPort < 1 || options.masterPort > 65535) {
    throw Error::range("expected masterPort to be a TCP port (1-65535), got " + std::to_string(options.masterPort));
  }
  if (options.masterAddr.empty()) throw Error::range("expected a master address");
  if (options.timeout.count() < 1) throw Error::range("expected a timeout of at least 1 ms");
  if (!options.backend.empty() && options.backend != "gloo" && options.backend != "nccl") {
    throw Error::range("expected backend 'gloo' or 'nccl', got '" + options.backend + "'");
  }
  if (options.backend == "nccl" && !options.device.is_cuda()) {
    throw Error::range("backend 'nccl' carries CUDA tensors only: the device is " + options.device.str());
  }
  if (options.backend == "nccl" && !DistributedGroup::ncclAvailable()) {
    throw Error::torchvideo(codes::kDistributed,
                            "backend 'nccl' is not in this build: it needs a CUDA LibTorch with ProcessGroupNCCL.hpp "
                            "and nccl.h at build time (use backend 'gloo', which also carries CUDA tensors)");
  }
  const bool nccl = options.backend == "nccl" ||
                    (options.backend.empty() && options.device.is_cuda() && DistributedGroup::ncclAvailable());
  if (!nccl && !DistributedGroup::glooAvailable()) {
    throw Error::torchvideo(codes::kDistributed,
                            "this build of torchvideo has NCCL only, for CUDA devices: it was built without Gloo's "
                            "headers, which " +
                                std::string(options.device.is_cuda() ? "backend 'gloo'" : "CPU ranks") +
                                " need (install Debian's libgloo-dev or set GLOO_INCLUDE_DIR, and rebuild)");
  }
}

}  // namespace

std::shared_ptr<DistributedGroup> DistributedGroup::create(const GroupOptions& options) {
  checkOptions(options);
  try {
    return std::make_shared<C10dGroup>(options);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    const bool local = !options.agentStore && isLoopbackAddress(options.masterAddr);
    const std::string role = options.agentStore ? "connect to the launcher's store at "
                             : local ? (options.rank == 0 ? "host the job's local store at " : "reach rank 0 at ")
                                     : (options.rank == 0 ? "host the store at " : "connect to rank 0's store at ");
    throw Error::torchvideo(codes::kDistributed,
                            "rank " + std::to_string(options.rank) + " of " + std::to_string(options.worldSize) +
                                " cannot join the job: could not " + role + options.masterAddr + ":" +
                                std::to_string(options.masterPort) + " and meet every rank within " +
                                seconds(options.timeout) + " (" + torchMessage(error.what()) + ")");
  }
}

#endif

}  // namespace torchvideo

// Every rank of a job beats a counter in the job's store from a thread of its own, so that when a
// collective fails the ranks still running can tell which ones stopped: those whose count no longer
// moves. Apart from group.cpp because it is its own thread and its own connection to the store.
#pragma once

#if TORCHVIDEO_DISTRIBUTED
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "cpp/distributed/group.h"
#include "cpp/distributed/job_store.h"

namespace torchvideo {

// How long stoppedRanks() watches the beats: long enough for every live rank to beat several times.
inline constexpr std::chrono::milliseconds kBeatWindow{2500};

// Beats into the store every kBeatInterval from its own connection, so it goes on while the rank waits
// in a collective; the diagnosis reads every rank's beats over the same connection. That connection is
// made at join, while the store is healthy, and never remade: a connection opened after a failure can
// sit in the listen backlog of a host that is being killed, and LibTorch 1.13's TCPStore client aborts
// the whole process (std::terminate in its watch thread) when such a connection is reset.
class Heartbeat {
 public:
  // Connects, beats once and waits to see the beat stored; then beats on until destroyed.
  Heartbeat(const GroupOptions& options, JobStore& jobStore);
  ~Heartbeat();

  // The ranks other than this one whose beat did not move over kBeatWindow (blocks that long). Throws
  // when the store cannot be reached.
  std::vector<int> stoppedRanks(int worldSize);

 private:
  // Each rank's beat count (0: it never beat). Throws when the store cannot be reached.
  std::vector<int64_t> beatCounts(int worldSize);
  void beatUntilStopped();

  int rank_;
  c10::intrusive_ptr<c10d::Store> store_;
  std::mutex storeMutex_;  // TCPStore's client is not thread-safe: the beat and the diagnosis share it
  bool broken_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace torchvideo
#endif

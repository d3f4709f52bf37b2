#include "cpp/distributed/heartbeat.h"

#if TORCHVIDEO_DISTRIBUTED
#include <stdexcept>
#include <string>

namespace torchvideo {
namespace {

using namespace std::chrono_literals;
constexpr auto kBeatInterval = 500ms;
// How long the heartbeat's connection waits for the store's reply before counting it gone: generous,
// as a loaded host answers late, and a false "gone" would misname the failure.
constexpr auto kStoreReply = 5000ms;

std::string beatKey(int rank) { return "heartbeat/" + std::to_string(rank); }

}  // namespace

Heartbeat::Heartbeat(const GroupOptions& options, JobStore& jobStore) : rank_(options.rank) {
  // A store that does not answer within kStoreReply counts as gone.
  store_ = jobStore.connectAgain(kStoreReply);
  store_->add(beatKey(rank_), 1);
  store_->wait({beatKey(rank_)}, kStoreReply);
  thread_ = std::thread([this] { beatUntilStopped(); });
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::vector<int> Heartbeat::stoppedRanks(int worldSize) {
  const auto before = beatCounts(worldSize);
  std::this_thread::sleep_for(kBeatWindow);
  const auto after = beatCounts(worldSize);
  std::vector<int> stopped;
  for (int r = 0; r < worldSize; ++r) {
    if (r != rank_ && after[r] == before[r]) stopped.push_back(r);
  }
  return stopped;
}

std::vector<int64_t> Heartbeat::beatCounts(int worldSize) {
  std::lock_guard<std::mutex> lock(storeMutex_);
  if (broken_) throw std::runtime_error("the heartbeat's connection to the store failed");
  std::vector<int64_t> beats;
  try {
    for (int r = 0; r < worldSize; ++r) beats.push_back(store_->add(beatKey(r), 0));
  } catch (...) {
    broken_ = true;  // a reply may still be in flight: the connection is out of step for good
    throw;
  }
  return beats;
}

void Heartbeat::beatUntilStopped() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(storeMutex_);
      if (broken_) return;
      try {
        store_->add(beatKey(rank_), 1);
      } catch (const std::exception&) {
        // The store is gone (its host stopped): nothing left to beat into; the diagnosis reports it.
        broken_ = true;
        return;
      }
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (wake_.wait_for(lock, kBeatInterval, [this] { return stopping_; })) return;
  }
}

}  // namespace torchvideo
#endif

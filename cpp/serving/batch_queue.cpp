#include "cpp/serving/batch_queue.h"

#include <algorithm>

namespace torchvideo::serving {

bool sameClipShape(const torch::Tensor& a, const torch::Tensor& b) { return a.sizes().slice(1) == b.sizes().slice(1); }

void BatchQueue::push(BatchRequest request) {
  queuedClips_ += request.clips();
  lanes_[request.high ? 0 : 1].push_back(std::move(request));
}

bool BatchQueue::remove(uint64_t id) {
  for (auto& lane : lanes_) {
    const auto found = std::find_if(lane.begin(), lane.end(), [id](const BatchRequest& r) { return r.id == id; });
    if (found == lane.end()) continue;
    queuedClips_ -= found->clips();
    lane.erase(found);
    return true;
  }
  return false;
}

std::vector<BatchRequest> BatchQueue::takeExpired(Clock::time_point now) {
  std::vector<BatchRequest> expired;
  for (auto& lane : lanes_) {
    for (auto it = lane.begin(); it != lane.end();) {
      if (it->deadline && *it->deadline <= now) {
        queuedClips_ -= it->clips();
        expired.push_back(std::move(*it));
        it = lane.erase(it);
      } else {
        ++it;
      }
    }
  }
  return expired;
}

BatchQueue::Selection BatchQueue::select() const {
  Selection selection;
  const BatchRequest* head = nullptr;
  for (int lane = 0; lane < 2; ++lane) {
    for (size_t i = 0; i < lanes_[lane].size(); ++i) {
      const auto& request = lanes_[lane][i];
      if (head == nullptr) {
        head = &request;
      } else if (!sameClipShape(head->input, request.input) || selection.clips + request.clips() > maxBatchSize_) {
        continue;
      }
      selection.picks.emplace_back(lane, i);
      selection.clips += request.clips();
      if (selection.clips == maxBatchSize_) return selection;
    }
  }
  return selection;
}

std::vector<BatchRequest> BatchQueue::take(const Selection& selection) {
  std::vector<BatchRequest> batch;
  batch.reserve(selection.picks.size());
  for (const auto& [lane, index] : selection.picks) batch.push_back(std::move(lanes_[lane][index]));
  // Erase from the back of each lane so the indices still to erase stay valid.
  for (auto pick = selection.picks.rbegin(); pick != selection.picks.rend(); ++pick) {
    lanes_[pick->first].erase(lanes_[pick->first].begin() + static_cast<std::ptrdiff_t>(pick->second));
  }
  queuedClips_ -= selection.clips;
  return batch;
}

std::optional<Clock::time_point> BatchQueue::oldestEnqueued() const {
  std::optional<Clock::time_point> oldest;
  for (const auto& lane : lanes_) {
    // Each lane is in arrival order: its front is its oldest.
    if (!lane.empty() && (!oldest || lane.front().enqueued < *oldest)) oldest = lane.front().enqueued;
  }
  return oldest;
}

std::optional<Clock::time_point> BatchQueue::earliestDeadline() const {
  std::optional<Clock::time_point> earliest;
  for (const auto& lane : lanes_) {
    for (const auto& request : lane) {
      if (request.deadline && (!earliest || *request.deadline < *earliest)) earliest = request.deadline;
    }
  }
  return earliest;
}

}  // namespace torchvideo::serving

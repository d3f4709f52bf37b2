// Gloo and NCCL pair collectives across ranks by the order each rank issues them, so every rank must
// issue a group's collectives in the same order. A process issues them from several threads (the
// group's own calls on the distributed executor, a trainer's gradient allreduces and buffer broadcasts
// on its device executor): without an order between those threads, an un-awaited step followed by a
// group call could pair different collectives on different ranks (a hang, or sums of the wrong tensors).
// Each job that will issue collectives takes a turn when it is called, on the JS thread, in call order;
// on its executor it waits for every earlier turn to finish before it issues anything.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>

namespace torchvideo {

class CollectiveOrder : public std::enable_shared_from_this<CollectiveOrder> {
 public:
  class Turn {
   public:
    Turn(std::shared_ptr<CollectiveOrder> order, uint64_t number) : order_(std::move(order)), number_(number) {}
    // A turn never waited for (its job was dropped) still lets the next ones go.
    ~Turn() { finish(); }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;

    // Blocks until every turn taken before this one has finished.
    void wait() { order_->waitFor(number_); }
    // Lets the next turn go. Idempotent.
    void finish() {
      if (finished_) return;
      finished_ = true;
      order_->finished(number_);
    }

   private:
    std::shared_ptr<CollectiveOrder> order_;
    uint64_t number_;
    bool finished_ = false;
  };

  // The next turn, in call order (the JS thread's).
  std::shared_ptr<Turn> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::make_shared<Turn>(shared_from_this(), taken_++);
  }

 private:
  void waitFor(uint64_t number) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return next_ == number; });
  }

  void finished(uint64_t number) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.insert(number);
      // Turns may finish out of order (a dropped job's turn): the queue moves past every finished one.
      while (!done_.empty() && *done_.begin() == next_) {
        done_.erase(done_.begin());
        ++next_;
      }
    }
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t taken_ = 0;
  uint64_t next_ = 0;
  std::set<uint64_t> done_;
};

// Runs `body` in `turn` (none: at once): waits for the earlier turns, then lets the next one go however
// `body` ends.
template <typename Body>
auto inTurn(const std::shared_ptr<CollectiveOrder::Turn>& turn, Body&& body) {
  struct Finish {
    CollectiveOrder::Turn* turn;
    ~Finish() {
      if (turn != nullptr) turn->finish();
    }
  } finish{turn.get()};
  if (turn) turn->wait();
  return body();
}

}  // namespace torchvideo

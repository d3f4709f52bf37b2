#include "cpp/thread_pool.h"

#include <algorithm>

namespace torchvideo {

ThreadPool::ThreadPool(int threadCount) {
  const int count = std::max(1, threadCount);
  threads_.reserve(count);
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void ThreadPool::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (quiesced_) return;
    queue_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void ThreadPool::growTo(int threadCount) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (quiesced_ || stopping_) return;
  while (static_cast<int>(threads_.size()) < threadCount) threads_.emplace_back([this] { loop(); });
}

int ThreadPool::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(threads_.size());
}

bool ThreadPool::quiesce(std::chrono::steady_clock::time_point deadline) {
  std::deque<std::function<void()>> dropped;
  std::unique_lock<std::mutex> lock(mutex_);
  quiesced_ = true;
  dropped.swap(queue_);
  return idle_.wait_until(lock, deadline, [this] { return running_ == 0; });
}

void ThreadPool::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || (!quiesced_ && !queue_.empty()); });
      if (queue_.empty() || quiesced_) {
        if (stopping_) return;
        continue;
      }
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    task();
    // Its captures (a model, a decoder) are freed before the task counts as finished: quiesce() must
    // not return while this thread still runs LibTorch or FFmpeg code.
    task = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --running_;
    }
    idle_.notify_all();
  }
}

}  // namespace torchvideo

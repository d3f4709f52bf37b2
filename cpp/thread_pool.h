// A fixed set of worker threads sharing one FIFO queue.
// - A device's compute executor is a pool of one thread: tasks run one at a time, in order, and long
//   CPU/CUDA work never runs on the JS thread nor occupies libuv's 4-thread pool (where file I/O would
//   queue behind it).
// - Video decoding runs on a pool of several, apart from the compute executors, so decoding the next
//   clips overlaps the network's work on the current ones.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace torchvideo {

class ThreadPool {
 public:
  explicit ThreadPool(int threadCount);
  // Runs every task already queued, then joins the threads.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Tasks must not throw; see Executor::post.
  void post(std::function<void()> task);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace torchvideo

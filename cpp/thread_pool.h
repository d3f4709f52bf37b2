// A fixed set of worker threads sharing one FIFO queue.
// - A device's compute executor is a pool of one thread: tasks run one at a time, in order, and long
//   CPU/CUDA work never runs on the JS thread nor occupies libuv's 4-thread pool (where file I/O would
//   queue behind it).
// - Video decoding runs on a pool of several, apart from the compute executors, so decoding the next
//   clips overlaps the network's work on the current ones.
#pragma once

#include <chrono>
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
  // Runs every task already queued (unless quiesce() dropped them), then joins the threads.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Tasks must not throw: each one catches its own errors and reports them itself.
  void post(std::function<void()> task);

  // Adds threads until there are `threadCount` (never fewer: a running task keeps its thread).
  // For the decode pool, whose right size depends on the job (an evaluation on a GPU wants nearly
  // every core decoding; a CPU job leaves the cores to the network).
  void growTo(int threadCount);
  int size();

  // For process exit. exit() runs the static destructors of LibTorch, oneDNN and FFmpeg while our
  // threads may still be inside them (a forward in a oneDNN kernel): a crash instead of the exit code
  // the user asked for. So, before exit: tasks not yet started are dropped, tasks posted later are
  // dropped, and this returns once the running ones have finished. The threads stay parked (never
  // exiting, so no thread-local teardown races the static destructors) until the destructor.
  // Waits until `deadline` at most (a collective stuck on a dead peer would otherwise hold the exit
  // for its whole timeout); returns false when work was still running then.
  bool quiesce(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  int running_ = 0;
  bool stopping_ = false;
  bool quiesced_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace torchvideo

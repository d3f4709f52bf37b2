// A live source (a URL, a file read as a stream, or bytes pushed from JS) decoded continuously on its own
// thread into windows of the newest frames, resampled and preprocessed as classifyVideo's clips are.
// Everything it holds is bounded: a ring of clipLength RGB frames, one pending window, and (for pushed
// bytes) a byte queue of a fixed capacity.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "cpp/video/preprocess.h"
#include "cpp/video/stream_source.h"

namespace torchvideo {

struct StreamOptions {
  int clipLength = 16;
  double frameRate = 15;
  double hopSec = 0.5;
  // Paces reading at the stream's timestamps (ffmpeg -re): a file then plays like a live source.
  bool realtime = false;
  // A source that delivers nothing for this long ends with kTimeout (0: never).
  int64_t stallTimeoutMs = 10000;
  PreprocessOptions preprocess;
  // Pushed bytes held at most (plus one chunk): push() reports "full" beyond it.
  size_t queueBytes = size_t{4} << 20;
  // A network source or a device that closes, fails or stalls is opened again, after initialDelayMs,
  // doubled after each failed attempt up to maxDelayMs; after `reconnectRetries` attempts in a row
  // without a frame (-1: without end) the stream ends (a close) or fails (an error). A first open that
  // fails is retried the same way. Files and pushed bytes are never reopened.
  int64_t reconnectRetries = 0;
  int64_t reconnectInitialDelayMs = 500;
  int64_t reconnectMaxDelayMs = 10000;
};

// Something that happened to the source, for the caller's log: "open" (each time it opens, reopenings
// included), "reconnecting" (it closed or failed: `attempt` of the reopening, after `delayMs`, and why),
// "end" (it ended for good).
struct StreamEvent {
  std::string type;
  int64_t attempt = 0;
  int64_t delayMs = 0;
  std::string message;
};

struct StreamWindow {
  torch::Tensor clip;  // float32 (1, 3, clipLength, crop, crop)
  double startSec = 0, endSec = 0;
  // When the source frame that is the window's last frame was decoded.
  std::chrono::steady_clock::time_point arrival;
  // CPU time of the decode thread since the previous window was made: demuxing, decoding, resampling
  // and preprocessing (-1 where the platform has no per-thread CPU clock).
  double decodeCpuMs = -1;
};

struct StreamTake {
  std::optional<StreamWindow> window;
  int64_t dropped = 0;
  int64_t reconnects = 0;           // reopenings that succeeded
  std::vector<StreamEvent> events;  // since the previous take(), oldest first
  bool opened = false;              // the source is open and its video stream found
  bool ended = false;               // the source reached its end (pending windows may remain)
  bool finished = false;            // nothing more will come: the thread is done and no window is pending
  std::exception_ptr error;         // with finished: why the stream stopped, when it failed
};

class StreamReader {
 public:
  // push: bytes come from push()/endOfInput() instead of `source` being opened (source is then only a
  // name for messages). `notify` is called from the decode thread whenever take() or writable() may
  // give something new; it must not block.
  StreamReader(const std::string& source, bool push, const StreamOptions& options, std::function<void()> notify);
  ~StreamReader();  // close()

  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  // Queues pushed bytes; false once the queue holds queueBytes or more (the pusher should pause until
  // writable() is true again, which notify announces).
  bool push(const uint8_t* data, size_t size);
  void endOfInput();
  bool writable();

  StreamTake take();

  // Stops the decode thread (an interrupted FFmpeg read returns at once) and frees FFmpeg; idempotent.
  void close();

 private:
  struct Connection;
  struct Output;
  friend struct Connection;
  friend struct Output;

  void run();
  void decodeAll();
  // Reads one connection to its end; true when it delivered at least one frame.
  void readConnection(Connection& connection, Output& output, bool& delivered);
  void addEvent(StreamEvent event);
  // Waits `ms` or until close(); false when closing.
  bool backOff(int64_t ms);
  bool shouldInterrupt();
  int readPushed(uint8_t* buf, int size);
  void emit(StreamWindow window);
  void markStall();

  std::string sourceName_;
  const bool push_;
  const StreamOptions options_;
  const std::function<void()> notify_;
  StreamTarget target_;
  // A file read as fast as windows are taken is not live: nothing goes stale, so its windows wait
  // for the consumer instead of being dropped.
  bool live_ = true;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<int64_t> lastDataNs_{0};

  // Under mutex_.
  std::deque<std::vector<uint8_t>> queue_;
  size_t queueOffset_ = 0;  // bytes of queue_.front() already read
  size_t queuedBytes_ = 0;
  bool inputEnded_ = false;
  bool full_ = false;
  std::optional<StreamWindow> slot_;
  int64_t dropped_ = 0;
  int64_t reconnects_ = 0;
  std::deque<StreamEvent> events_;
  bool opened_ = false, ended_ = false, done_ = false;
  std::exception_ptr error_;

  std::thread thread_;
};

}  // namespace torchvideo

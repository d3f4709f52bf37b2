#include "cpp/video/stream_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <torch/torch.h>

#include "cpp/errors.h"
#include "cpp/video/stream_reader_parts.h"

namespace torchvideo {
namespace {

using stream_detail::Clock;
using stream_detail::nowNs;

constexpr size_t kMaxPendingEvents = 64;

}  // namespace

StreamReader::StreamReader(const std::string& source, bool push, const StreamOptions& options,
                           std::function<void()> notify)
    : push_(push), options_(options), notify_(std::move(notify)) {
  if (options.clipLength < 1) throw Error::range("clipLength must be at least 1");
  if (!(options.frameRate > 0) || !std::isfinite(options.frameRate)) throw Error::range("frameRate must be positive");
  if (!(options.hopSec > 0) || !std::isfinite(options.hopSec)) throw Error::range("hopSec must be positive");
  if (!push) target_ = resolveStreamSource(source);
  sourceName_ = push ? source : target_.displayName;
  live_ = push || options.realtime || !target_.isFile;
  lastDataNs_ = nowNs();
  thread_ = std::thread([this] { run(); });
}

StreamReader::~StreamReader() { close(); }

bool StreamReader::shouldInterrupt() {
  if (closing_) return true;
  if (options_.stallTimeoutMs > 0 && nowNs() - lastDataNs_ > options_.stallTimeoutMs * 1000000) {
    stalled_ = true;
    return true;
  }
  return false;
}

void StreamReader::markStall() {
  throw Error::torchvideo(codes::kTimeout, "stream source '" + sourceName_ + "' sent nothing for " +
                                               std::to_string(options_.stallTimeoutMs) + " ms (stallTimeoutMs)");
}

int StreamReader::readPushed(uint8_t* buf, int size) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (closing_) return AVERROR_EXIT;
    if (!queue_.empty()) break;
    if (inputEnded_) return AVERROR_EOF;
    if (options_.stallTimeoutMs > 0) {
      const auto due = Clock::time_point(std::chrono::nanoseconds(lastDataNs_.load())) +
                       std::chrono::milliseconds(options_.stallTimeoutMs);
      changed_.wait_until(lock, due);
      if (queue_.empty() && !inputEnded_ && !closing_ && Clock::now() >= due) {
        stalled_ = true;
        return AVERROR_EXIT;
      }
    } else {
      changed_.wait(lock);
    }
  }
  size_t copied = 0;
  while (copied < static_cast<size_t>(size) && !queue_.empty()) {
    auto& chunk = queue_.front();
    const size_t n = std::min(static_cast<size_t>(size) - copied, chunk.size() - queueOffset_);
    std::memcpy(buf + copied, chunk.data() + queueOffset_, n);
    copied += n;
    queueOffset_ += n;
    if (queueOffset_ == chunk.size()) {
      queue_.pop_front();
      queueOffset_ = 0;
    }
  }
  queuedBytes_ -= copied;
  lastDataNs_ = nowNs();
  // Half empty before the pusher resumes, so it is not paused and resumed on every chunk.
  const bool resume = full_ && queuedBytes_ <= options_.queueBytes / 2;
  if (resume) full_ = false;
  lock.unlock();
  if (resume) notify_();
  return static_cast<int>(copied);
}

bool StreamReader::push(const uint8_t* data, size_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (inputEnded_ || closing_ || done_) return false;
  if (size > 0) {
    queue_.emplace_back(data, data + size);
    queuedBytes_ += size;
    lastDataNs_ = nowNs();
    changed_.notify_all();
  }
  if (queuedBytes_ >= options_.queueBytes) full_ = true;
  return !full_;
}

void StreamReader::endOfInput() {
  std::lock_guard<std::mutex> lock(mutex_);
  inputEnded_ = true;
  changed_.notify_all();
}

bool StreamReader::writable() {
  std::lock_guard<std::mutex> lock(mutex_);
  return !full_ && !inputEnded_ && !done_ && !closing_;
}

void StreamReader::emit(StreamWindow window) {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!live_) changed_.wait(lock, [&] { return !slot_ || closing_.load(); });
    if (closing_) return;
    if (slot_) ++dropped_;  // the consumer is behind: the newest window replaces the stale one
    slot_ = std::move(window);
  }
  notify_();
}

StreamTake StreamReader::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  StreamTake result;
  if (slot_) {
    result.window = std::move(slot_);
    slot_.reset();
    changed_.notify_all();
  }
  result.dropped = dropped_;
  result.reconnects = reconnects_;
  result.events.assign(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  result.opened = opened_;
  result.ended = ended_;
  result.finished = done_ && !result.window;
  if (result.finished) result.error = error_;
  return result;
}

void StreamReader::run() {
  try {
    // Preprocessing on this thread alone (LibTorch's OpenMP threads are per calling thread): each stream
    // has its own thread already, and a team of intra-op threads per stream would multiply the threads
    // by the number of streams.
    at::set_num_threads(1);
    decodeAll();
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  notify_();
}

namespace {

// Failures a reopening may cure: the source could not be reached, broke off, or went quiet. Anything
// else (a frame too large, no decoder for its codec) would fail the same way again.
bool transient(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    return e.code() == codes::kVideoOpen || e.code() == codes::kVideoDecode || e.code() == codes::kTimeout ||
           e.code() == codes::kNoVideoStream;
  } catch (...) {
    return false;
  }
}

// Throws the last failure, its message saying that the reopenings were tried and given up on.
[[noreturn]] void throwGivingUp(const std::exception_ptr& failure, int64_t retries) {
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    throw Error::torchvideo(e.code(), std::string(e.what()) + " (gave up after " + std::to_string(retries) +
                                          (retries == 1 ? " retry)" : " retries)"));
  }
}

std::string messageOf(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace

void StreamReader::readConnection(Connection& c, Output& out, bool& delivered) {
  AVPacket* packet = c.packet.get();
  const auto deliver = [&] {
    while (!closing_ && avcodec_receive_frame(c.codec.get(), c.frame.get()) == 0) {
      delivered = true;
      out.onFrame(c.frame.get(), c);
    }
  };
  for (;;) {
    // A stall is a read that waits stallTimeoutMs for data, not time spent decoding or waiting for
    // the consumer between reads.
    lastDataNs_ = nowNs();
    const int ret = av_read_frame(c.fmt.get(), packet);
    if (closing_) return;
    if (ret == AVERROR_EOF) break;
    if (ret < 0) {
      if (stalled_) markStall();
      throw Error::torchvideo(codes::kVideoDecode,
                              "reading stream source '" + sourceName_ + "' failed: " + ffmpeg::errorString(ret));
    }
    lastDataNs_ = nowNs();
    // Decode errors of a packet (garbage, a damaged packet) are skipped: the decoder resynchronises.
    if (packet->stream_index == c.streamIndex && packet->size > 0) avcodec_send_packet(c.codec.get(), packet);
    av_packet_unref(packet);
    deliver();
    if (closing_) return;
  }
  avcodec_send_packet(c.codec.get(), nullptr);
  deliver();
}

void StreamReader::decodeAll() {
  Output out(*this);
  if (!out.current) throw Error::torchvideo(codes::kVideoOpen, "out of memory opening '" + sourceName_ + "'");
  const bool reopens = !push_ && target_.reopens();
  const int64_t retries = reopens ? options_.reconnectRetries : 0;
  int64_t failedInARow = 0;  // openings since the last one that delivered a frame
  bool everOpened = false;
  for (;;) {
    std::exception_ptr failure;
    bool delivered = false;
    try {
      stalled_ = false;
      Connection c(*this);
      c.open();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (everOpened) ++reconnects_;
        opened_ = true;
      }
      if (everOpened) out.resumeAfterReconnect();
      everOpened = true;
      addEvent({"open", 0, 0, ""});
      readConnection(c, out, delivered);
    } catch (...) {
      if (closing_) return;
      failure = std::current_exception();
      if (!reopens || !transient(failure)) throw;
    }
    if (closing_) return;
    if (delivered) failedInARow = 0;
    ++failedInARow;
    if (retries >= 0 && failedInARow > retries) {
      if (failure) {
        if (retries == 0) std::rethrow_exception(failure);
        throwGivingUp(failure, retries);
      }
      break;  // closed, and no reopening left: the stream's end
    }
    const int64_t shift = std::min<int64_t>(failedInARow - 1, 30);
    const int64_t delayMs = std::min(options_.reconnectMaxDelayMs, options_.reconnectInitialDelayMs << shift);
    addEvent({"reconnecting", failedInARow, delayMs, failure ? messageOf(failure) : "the source closed"});
    if (!backOff(delayMs)) return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ended_ = true;
  }
  addEvent({"end", 0, 0, ""});
  out.finish();
}

void StreamReader::addEvent(StreamEvent event) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A consumer that never looks must not make the log grow: the oldest events give way.
    if (events_.size() >= kMaxPendingEvents) events_.pop_front();
    events_.push_back(std::move(event));
  }
  notify_();
}

bool StreamReader::backOff(int64_t ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return closing_.load(); });
  return !closing_;
}

void StreamReader::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    changed_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.clear();
  queuedBytes_ = 0;
  slot_.reset();
}

}  // namespace torchvideo

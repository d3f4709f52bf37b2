#include "cpp/video/stream_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>

#include <torch/torch.h>

#include "cpp/errors.h"
#include "cpp/video/ffmpeg_handles.h"
#include "cpp/video/input_limits.h"
#include "cpp/video/open_video_file.h"
#include "cpp/video/rgb_converter.h"

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/mem.h>
}

namespace torchvideo {
namespace {

using Clock = std::chrono::steady_clock;

// CPU time of the calling thread, -1 where there is no per-thread clock.
double threadCpuMs() {
#ifdef CLOCK_THREAD_CPUTIME_ID
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) {
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  }
#endif
  return -1;
}

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Stream times are compared with this slack: pts * time_base and k / frameRate are computed in double
// and may differ in the last bits where they are mathematically equal.
constexpr double kTimeEpsilon = 1e-7;
// A timestamp jump back by more than kMaxBackSec or forward by more than kMaxGapSec is a discontinuity (a
// restarted encoder, an MPEG-TS pts wrap, a source looped): the stream clock continues one frame after the
// last frame instead of following it, so a jump neither stalls the output until the clock catches up nor
// fills it with hours of repeated frames. (Frames come out of the decoder in presentation order: a step
// back is never reordering.)
constexpr double kMaxBackSec = 1.0;
constexpr double kMaxGapSec = 10.0;
constexpr int kAvioBufferBytes = 1 << 16;
constexpr size_t kMaxPendingEvents = 64;

}  // namespace

// One opening of the source: FFmpeg's demuxer and decoder. A reconnection opens a new Connection.
struct StreamReader::Connection {
  StreamReader& owner;
  ffmpeg::FormatContextPtr fmt;
  AVIOContext* avio = nullptr;  // custom I/O of pushed bytes; not owned by fmt (AVFMT_FLAG_CUSTOM_IO)
  int streamIndex = -1;
  AVRational timeBase{1, 1};
  double frameInterval = 1.0 / 25;
  ffmpeg::CodecContextPtr codec;
  ffmpeg::PacketPtr packet{av_packet_alloc()};
  ffmpeg::FramePtr frame{av_frame_alloc()};

  explicit Connection(StreamReader& o) : owner(o) {}
  ~Connection() {
    fmt.reset();
    if (avio) {
      av_freep(&avio->buffer);
      avio_context_free(&avio);
    }
  }

  void open();
};

// The stream clock, the resampling to frameRate and the ring of the newest frames. They outlive
// connections: after a reconnection stream time goes on, and windows are made of the new connection's
// frames only.
struct StreamReader::Output {
  StreamReader& owner;
  ffmpeg::FramePtr current{av_frame_alloc()};  // the newest decoded frame, not yet superseded
  RgbConverter rgb;

  bool haveCurrent = false;
  double currentTime = 0;
  double startTime = 0;  // stream time of a connection's first frame: 0, or where a reconnection resumes
  Clock::time_point currentArrival;
  bool haveFirstTs = false;
  int64_t firstTs = 0;
  double offset = 0;  // added to pts times: the connection's start, and after discontinuities
  Clock::time_point wallStart;

  // The resampled output: frame k (stream time k / frameRate) and the ring of the newest clipLength.
  int64_t nextOut = 0;
  int64_t segmentStart = 0;  // the first output frame of the current connection
  int width = 0, height = 0;
  torch::Tensor ring;  // uint8 (clipLength, H, W, 3)
  std::vector<Clock::time_point> ringArrival;
  int64_t emitted = 0;
  double firstEmitSec = 0;
  double cpuAtLastWindowMs = 0;  // the thread's CPU clock starts at 0

  explicit Output(StreamReader& o) : owner(o) {}

  double outTime(int64_t k) const { return static_cast<double>(k) / owner.options_.frameRate; }

  void onFrame(AVFrame* decoded, const Connection& from);
  void outputCurrent();
  void finish();
  void resumeAfterReconnect();
};

void StreamReader::Connection::open() {
  const auto& name = owner.sourceName_;
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw Error::torchvideo(codes::kVideoOpen, "cannot open stream source '" + name + "': out of memory");
  // As openMediaFile: pts generated for packets without one, so frames are timed as torchvision times them.
  raw->flags |= AVFMT_FLAG_GENPTS;
  // Lets close() (and a stall) interrupt a blocking network read or connect.
  raw->interrupt_callback.callback = [](void* opaque) {
    return static_cast<StreamReader*>(opaque)->shouldInterrupt() ? 1 : 0;
  };
  raw->interrupt_callback.opaque = &owner;
  AVDictionary* dict = nullptr;
  std::string url;
  if (owner.push_) {
    auto* buffer = static_cast<uint8_t*>(av_malloc(kAvioBufferBytes));
    avio = buffer ? avio_alloc_context(
                        buffer, kAvioBufferBytes, 0, &owner,
                        [](void* opaque, uint8_t* buf, int size) {
                          return static_cast<StreamReader*>(opaque)->readPushed(buf, size);
                        },
                        nullptr, nullptr)
                  : nullptr;
    if (!avio) {
      av_free(buffer);
      avformat_free_context(raw);
      throw Error::torchvideo(codes::kVideoOpen, "cannot open stream source '" + name + "': out of memory");
    }
    raw->pb = avio;
    raw->flags |= AVFMT_FLAG_CUSTOM_IO;
    // Pushed bytes need no protocol at all; a demuxer that tried to open a nested URL finds none allowed.
    av_dict_set(&dict, "protocol_whitelist", "none", 0);
    av_dict_set(&dict, "format_whitelist", kAllowedContainers, 0);
  } else {
    url = owner.target_.url;
    av_dict_set(&dict, "protocol_whitelist", owner.target_.protocolWhitelist.c_str(), 0);
    av_dict_set(&dict, "format_whitelist", owner.target_.formatWhitelist.c_str(), 0);
  }
  const AVInputFormat* inputFormat = nullptr;
  if (!owner.target_.inputFormat.empty()) {
    registerCaptureDevices();
    inputFormat = av_find_input_format(owner.target_.inputFormat.c_str());
    if (!inputFormat) {
      av_dict_free(&dict);
      avformat_free_context(raw);
      throw Error::torchvideo(codes::kVideoOpen, "cannot open stream source '" + name + "': this FFmpeg has no " +
                                                     owner.target_.inputFormat + " input");
    }
  }
  owner.lastDataNs_ = nowNs();
  int ret = avformat_open_input(&raw, url.c_str(), inputFormat, &dict);
  av_dict_free(&dict);
  if (ret < 0) {
    if (owner.stalled_) owner.markStall();
    throw Error::torchvideo(codes::kVideoOpen, "cannot open stream source '" + name + "': " + ffmpeg::errorString(ret));
  }
  fmt.reset(raw);
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* par = fmt->streams[i]->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) checkFrameSize(par->width, par->height, name);
  }
  ret = avformat_find_stream_info(fmt.get(), nullptr);
  if (ret < 0) {
    if (owner.stalled_) owner.markStall();
    throw Error::torchvideo(codes::kVideoOpen,
                            "cannot read stream information of '" + name + "': " + ffmpeg::errorString(ret));
  }
  streamIndex = selectVideoStream(fmt.get(), name);
  const AVStream* stream = fmt->streams[streamIndex];
  timeBase = stream->time_base;
  for (AVRational rate : {stream->avg_frame_rate, stream->r_frame_rate}) {
    if (rate.num > 0 && rate.den > 0) {
      frameInterval = av_q2d(av_inv_q(rate));
      break;
    }
  }
  const AVCodec* decoder = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!decoder) {
    throw Error::torchvideo(codes::kVideoDecode, "no decoder for the video codec of '" + name + "' (" +
                                                     avcodec_get_name(stream->codecpar->codec_id) + ")");
  }
  codec.reset(avcodec_alloc_context3(decoder));
  if (!codec) throw Error::torchvideo(codes::kVideoDecode, "cannot allocate a decoder for '" + name + "'");
  ret = avcodec_parameters_to_context(codec.get(), stream->codecpar);
  if (ret >= 0) {
    codec->pkt_timebase = stream->time_base;
    // One thread per stream: frame threads would hold back thread_count frames (latency), and many
    // streams share the cores anyway. Single-threaded output is bit-identical to the file path's.
    codec->thread_count = 1;
    ret = avcodec_open2(codec.get(), decoder, nullptr);
  }
  if (ret < 0) {
    throw Error::torchvideo(codes::kVideoDecode, "cannot open the " + std::string(decoder->name) + " decoder for '" +
                                                     name + "': " + ffmpeg::errorString(ret));
  }
  if (!packet || !frame) throw Error::torchvideo(codes::kVideoOpen, "out of memory opening '" + name + "'");
}

// A decoded frame: times it, paces it (realtime), and outputs the resampled frames it settles.
void StreamReader::Output::onFrame(AVFrame* decoded, const Connection& from) {
  // A frame the decoder flags as damaged is skipped: the previous frame stands in for it.
  if (decoded->decode_error_flags != 0 || (decoded->flags & AV_FRAME_FLAG_CORRUPT)) {
    av_frame_unref(decoded);
    return;
  }
  const int64_t ts = decoded->best_effort_timestamp;
  double time;
  if (ts == AV_NOPTS_VALUE) {
    time = haveCurrent ? currentTime + from.frameInterval : startTime;
  } else {
    if (!haveFirstTs) {
      haveFirstTs = true;
      firstTs = ts;
    }
    time = static_cast<double>(ts - firstTs) * av_q2d(from.timeBase) + offset;
  }
  if (haveCurrent) {
    if (time < currentTime - kMaxBackSec || time > currentTime + kMaxGapSec) {
      offset += currentTime + from.frameInterval - time;
      time = currentTime + from.frameInterval;
    } else if (time <= currentTime) {
      av_frame_unref(decoded);  // a repeated or out-of-order timestamp: the newest frame stands
      return;
    }
  } else {
    time = startTime;  // the stream clock starts at the connection's first frame shown
    // Paced from here: the connection's first frame is due now.
    wallStart = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(startTime));
  }
  if (owner.options_.realtime) {
    const auto due = wallStart + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(time));
    std::unique_lock<std::mutex> lock(owner.mutex_);
    owner.changed_.wait_until(lock, due, [&] { return owner.closing_.load(); });
    // Waiting was not the source going quiet.
    owner.lastDataNs_ = nowNs();
  }
  if (owner.closing_) {
    av_frame_unref(decoded);
    return;
  }
  const auto arrival = Clock::now();
  // Output frame k takes the newest source frame with time <= k / frameRate: every k before this
  // frame's time is now settled and takes `current`.
  while (haveCurrent && outTime(nextOut) < time - kTimeEpsilon && !owner.closing_) outputCurrent();
  av_frame_unref(current.get());
  av_frame_move_ref(current.get(), decoded);
  haveCurrent = true;
  currentTime = time;
  currentArrival = arrival;
}

void StreamReader::Output::outputCurrent() {
  const int length = owner.options_.clipLength;
  if (!ring.defined()) {
    // The first frame's size is the stream's: frames of another size later (a resolution change) are
    // scaled to it by the RGB conversion, as the file reader does.
    width = current->width;
    height = current->height;
    checkFrameSize(width, height, owner.sourceName_);
    checkDecodeBytes(length, width, height, owner.sourceName_);
    ring = torch::empty({length, height, width, 3}, torch::TensorOptions().dtype(torch::kUInt8));
    ringArrival.resize(length);
  }
  const int64_t k = nextOut++;
  const int64_t slot = k % length;
  rgb.convert(current.get(), ring[slot].data_ptr<uint8_t>(), width, height);
  ringArrival[slot] = currentArrival;
  if (k + 1 - segmentStart < length) return;
  const double end = outTime(k);
  if (emitted == 0) {
    firstEmitSec = end;
  } else if (end < firstEmitSec + static_cast<double>(emitted) * owner.options_.hopSec - kTimeEpsilon) {
    return;
  }
  // The next window is due one hop after this one's nominal time (several hops shorter than a frame
  // interval are one window).
  while (firstEmitSec + static_cast<double>(emitted) * owner.options_.hopSec <= end + kTimeEpsilon) ++emitted;
  std::vector<int64_t> order(length);
  for (int i = 0; i < length; ++i) order[i] = (k - length + 1 + i) % length;
  const auto frames = ring.index_select(0, torch::tensor(order, torch::kInt64));
  StreamWindow window;
  window.clip = preprocessClips(frames.unsqueeze(0), owner.options_.preprocess);
  window.startSec = outTime(k - length + 1);
  window.endSec = end;
  window.arrival = ringArrival[slot];
  const double cpuMs = threadCpuMs();
  if (cpuMs >= 0) {
    window.decodeCpuMs = cpuMs - cpuAtLastWindowMs;
    cpuAtLastWindowMs = cpuMs;
  }
  owner.emit(std::move(window));
}

// The source ended: the frames up to the last frame's time are settled.
void StreamReader::Output::finish() {
  while (haveCurrent && outTime(nextOut) <= currentTime + kTimeEpsilon && !owner.closing_) outputCurrent();
}

// A new connection after one that ended or failed: its timestamps have nothing to do with the last
// one's, so its first frame starts at the next output frame's time (the outage is not counted), and
// the next window waits for clipLength of its own frames rather than joining frames of both.
void StreamReader::Output::resumeAfterReconnect() {
  finish();
  if (!haveCurrent) return;  // nothing was shown yet: the clock has not started
  startTime = outTime(nextOut);
  offset = startTime;
  haveCurrent = false;
  haveFirstTs = false;
  av_frame_unref(current.get());
  segmentStart = nextOut;
  emitted = 0;
}

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

#include "cpp/video/stream_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <system_error>

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

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "rtsp://user:secret@host/x" -> "rtsp://***@host/x": messages and logs must not carry credentials.
std::string redactUserInfo(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto hostStart = scheme + 3;
  const auto hostEnd = url.find_first_of("/?#", hostStart);
  const auto at = url.rfind('@', hostEnd == std::string::npos ? url.size() : hostEnd);
  if (at == std::string::npos || at < hostStart) return url;
  return url.substr(0, hostStart) + "***" + url.substr(at);
}

}  // namespace

StreamTarget resolveStreamSource(const std::string& source) {
  StreamTarget target;
  const auto sep = source.find("://");
  bool schemeShaped = sep != std::string::npos && sep > 0 && std::isalpha(static_cast<unsigned char>(source[0]));
  for (size_t i = 0; schemeShaped && i < sep; ++i) {
    const char c = source[i];
    schemeShaped = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  }
  if (schemeShaped) {
    const std::string scheme = lower(source.substr(0, sep));
    target.displayName = redactUserInfo(source);
    // Each protocol with what it is built on in FFmpeg, and nothing else: a redirect or a nested URL
    // to any other protocol (file, concat, subfile, data, ...) is refused by FFmpeg itself.
    static const std::pair<const char*, const char*> kProtocols[] = {
        {"http", "http,tcp"}, {"https", "https,tls,tcp"},   {"udp", "udp"},
        {"tcp", "tcp"},       {"rtsp", "rtsp,rtp,udp,tcp"}, {"srt", "srt"},
    };
    for (const auto& [name, whitelist] : kProtocols) {
      if (scheme != name) continue;
      target.url = source;
      target.protocolWhitelist = whitelist;
      target.formatWhitelist = kAllowedContainers;
      if (scheme == "rtsp") target.formatWhitelist += ",rtsp,sdp,rtp";
      return target;
    }
    throw Error::torchvideo(codes::kVideoOpen,
                            "cannot open stream source '" + target.displayName + "': the protocol '" + scheme +
                                "' is not allowed (allowed: http, https, udp, tcp, rtsp, srt; a local file is "
                                "given as a plain path)");
  }
  // Anything else is a local path, opened as "file:<path>" exactly as openVideo opens files, so
  // "concat:a|b" or "subfile:..." is a (missing) file name, not an FFmpeg protocol.
  target.displayName = source;
  std::error_code ec;
  if (source.empty() || std::filesystem::status(source, ec).type() == std::filesystem::file_type::not_found) {
    throw Error::torchvideo(codes::kVideoOpen,
                            "cannot open stream source '" + source +
                                "': no such file (a source is a file path or a URL of http, https, udp, tcp, rtsp "
                                "or srt)");
  }
  checkRegularFile(source);
  target.url = "file:" + source;
  target.protocolWhitelist = kAllowedProtocols;
  target.formatWhitelist = kAllowedContainers;
  target.isFile = true;
  return target;
}

// The FFmpeg side of one run of the decode thread.
struct StreamReader::Decode {
  StreamReader& owner;
  ffmpeg::FormatContextPtr fmt;
  AVIOContext* avio = nullptr;  // custom I/O of pushed bytes; not owned by fmt (AVFMT_FLAG_CUSTOM_IO)
  int streamIndex = -1;
  AVRational timeBase{1, 1};
  double frameInterval = 1.0 / 25;
  ffmpeg::CodecContextPtr codec;
  ffmpeg::PacketPtr packet{av_packet_alloc()};
  ffmpeg::FramePtr frame{av_frame_alloc()};
  ffmpeg::FramePtr current{av_frame_alloc()};  // the newest decoded frame, not yet superseded
  RgbConverter rgb;

  bool haveCurrent = false;
  double currentTime = 0;
  Clock::time_point currentArrival;
  bool haveFirstTs = false;
  int64_t firstTs = 0;
  double offset = 0;  // added to pts times after discontinuities
  Clock::time_point wallStart;

  // The resampled output: frame k (stream time k / frameRate) and the ring of the newest clipLength.
  int64_t nextOut = 0;
  int width = 0, height = 0;
  torch::Tensor ring;  // uint8 (clipLength, H, W, 3)
  std::vector<Clock::time_point> ringArrival;
  int64_t emitted = 0;
  double firstEmitSec = 0;

  explicit Decode(StreamReader& o) : owner(o) {}
  ~Decode() {
    fmt.reset();
    if (avio) {
      av_freep(&avio->buffer);
      avio_context_free(&avio);
    }
  }

  double outTime(int64_t k) const { return static_cast<double>(k) / owner.options_.frameRate; }

  void open();
  void onFrame(AVFrame* decoded);
  void outputCurrent();
  void finish();
};

void StreamReader::Decode::open() {
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
  owner.lastDataNs_ = nowNs();
  int ret = avformat_open_input(&raw, url.c_str(), nullptr, &dict);
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
  if (!packet || !frame || !current) throw Error::torchvideo(codes::kVideoOpen, "out of memory opening '" + name + "'");
}

// A decoded frame: times it, paces it (realtime), and outputs the resampled frames it settles.
void StreamReader::Decode::onFrame(AVFrame* decoded) {
  // A frame the decoder flags as damaged is skipped: the previous frame stands in for it.
  if (decoded->decode_error_flags != 0 || (decoded->flags & AV_FRAME_FLAG_CORRUPT)) {
    av_frame_unref(decoded);
    return;
  }
  const int64_t ts = decoded->best_effort_timestamp;
  double time;
  if (ts == AV_NOPTS_VALUE) {
    time = haveCurrent ? currentTime + frameInterval : 0;
  } else {
    if (!haveFirstTs) {
      haveFirstTs = true;
      firstTs = ts;
    }
    time = static_cast<double>(ts - firstTs) * av_q2d(timeBase) + offset;
  }
  if (haveCurrent) {
    if (time < currentTime - kMaxBackSec || time > currentTime + kMaxGapSec) {
      offset += currentTime + frameInterval - time;
      time = currentTime + frameInterval;
    } else if (time <= currentTime) {
      av_frame_unref(decoded);  // a repeated or out-of-order timestamp: the newest frame stands
      return;
    }
  } else {
    time = 0;  // the stream clock starts at the first frame shown
    wallStart = Clock::now();
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

void StreamReader::Decode::outputCurrent() {
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
  if (k + 1 < length) return;
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
  owner.emit(std::move(window));
}

// The source ended: the frames up to the last frame's time are settled.
void StreamReader::Decode::finish() {
  while (haveCurrent && outTime(nextOut) <= currentTime + kTimeEpsilon && !owner.closing_) outputCurrent();
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

void StreamReader::decodeAll() {
  {
    Decode d(*this);
    d.open();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      opened_ = true;
    }
    notify_();
    AVPacket* packet = d.packet.get();
    for (;;) {
      // A stall is a read that waits stallTimeoutMs for data, not time spent decoding or waiting for
      // the consumer between reads.
      lastDataNs_ = nowNs();
      const int ret = av_read_frame(d.fmt.get(), packet);
      if (closing_) return;
      if (ret == AVERROR_EOF) break;
      if (ret < 0) {
        if (stalled_) markStall();
        throw Error::torchvideo(codes::kVideoDecode,
                                "reading stream source '" + sourceName_ + "' failed: " + ffmpeg::errorString(ret));
      }
      lastDataNs_ = nowNs();
      // Decode errors of a packet (garbage, a damaged packet) are skipped: the decoder resynchronises.
      if (packet->stream_index == d.streamIndex && packet->size > 0) avcodec_send_packet(d.codec.get(), packet);
      av_packet_unref(packet);
      while (!closing_ && avcodec_receive_frame(d.codec.get(), d.frame.get()) == 0) d.onFrame(d.frame.get());
      if (closing_) return;
    }
    avcodec_send_packet(d.codec.get(), nullptr);
    while (!closing_ && avcodec_receive_frame(d.codec.get(), d.frame.get()) == 0) d.onFrame(d.frame.get());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ended_ = true;
    }
    notify_();
    d.finish();
  }
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

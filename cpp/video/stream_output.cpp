// StreamReader::Output: decoded frames onto the stream clock, resampled to frameRate, into the ring of
// the newest clipLength frames, and out as preprocessed windows every hopSec.
#include <cmath>
#include <ctime>

#include "cpp/video/input_limits.h"
#include "cpp/video/stream_reader_parts.h"

namespace torchvideo {
namespace {

using stream_detail::Clock;
using stream_detail::nowNs;

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

}  // namespace

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

}  // namespace torchvideo

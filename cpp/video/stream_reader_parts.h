// The two halves of a StreamReader's work, private to cpp/video/stream_reader*.cpp: a Connection (one
// opening of the source: FFmpeg's demuxer and decoder; stream_connection.cpp) and the Output (the stream
// clock, the resampling to frameRate and the ring of the newest frames; stream_output.cpp), which
// outlives connections. stream_reader.cpp runs them: the reading loop, reconnection, the window queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "cpp/video/ffmpeg_handles.h"
#include "cpp/video/rgb_converter.h"
#include "cpp/video/stream_reader.h"

namespace torchvideo {
namespace stream_detail {

using Clock = std::chrono::steady_clock;

inline int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace stream_detail

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
  stream_detail::Clock::time_point currentArrival;
  bool haveFirstTs = false;
  int64_t firstTs = 0;
  double offset = 0;  // added to pts times: the connection's start, and after discontinuities
  stream_detail::Clock::time_point wallStart;

  // The resampled output: frame k (stream time k / frameRate) and the ring of the newest clipLength.
  int64_t nextOut = 0;
  int64_t segmentStart = 0;  // the first output frame of the current connection
  int width = 0, height = 0;
  torch::Tensor ring;  // uint8 (clipLength, H, W, 3)
  std::vector<stream_detail::Clock::time_point> ringArrival;
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

}  // namespace torchvideo

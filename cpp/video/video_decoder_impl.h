// VideoDecoder's state, private to cpp/video/video_decoder.cpp (seeking, decoding forward, frames out)
// and cpp/video/decode_plan.cpp (which frames may be left undecoded).
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "cpp/video/ffmpeg_handles.h"
#include "cpp/video/frame_index.h"
#include "cpp/video/rgb_converter.h"
#include "cpp/video/video_decoder.h"

namespace torchvideo {

struct VideoDecoder::Impl {
  std::string path;
  // FFmpeg's frame and slice threads (0 = as many as cores); 1 after a decode error, see readFrames.
  int threads = 0;
  ffmpeg::FormatContextPtr fmt;
  int streamIndex = -1;
  ffmpeg::CodecContextPtr codec;
  ffmpeg::PacketPtr packet;
  ffmpeg::FramePtr frame;
  FrameIndex index;
  VideoInfo info;
  RgbConverter rgb;

  // Where decoding stands. While `active`, decoding forward meets every frame from `nextFrame`
  // (one past the highest frame number seen) on, so a later target needs no seek.
  bool active = false;
  bool draining = false;     // the flush packet was sent; only buffered frames remain
  bool havePending = false;  // `packet` holds a packet read during a rewind check, not yet sent
  int64_t minFrame = 0;      // frames before this are leading pictures of the keyframe we jumped to
  int64_t nextFrame = 0;
  int64_t outputCount = 0;  // frames output since the start (when frames are counted, not timed)
  std::string lastProblem;  // FFmpeg's last complaint, for the error naming a frame we couldn't get
  // Whether packets of unwanted frames are sent with skip_frame = AVDISCARD_NONREF: the decoder drops
  // them itself when no other frame references them (it reads that from the bitstream, so the frames
  // it does decode are exactly those of a full decode). Only where frames are known by timestamp: when
  // frames are counted in output order, a frame left out would shift every later number.
  std::atomic<bool> skipsUnwanted{false};           // read by stats() from other threads
  const std::vector<int64_t>* wantedNow = nullptr;  // what decodeUntil is after (sorted)
  // Frames at or past nextFrame whose packets went in with AVDISCARD_NONREF since the last seek: they
  // may never come out, so a later read that wants one seeks rather than waiting for it.
  std::set<int64_t> maybeSkipped;
  std::atomic<int64_t> framesDecoded{0};  // read by stats() from other threads
  std::atomic<int64_t> planFallbacks{0};  // times skipping was given up for this file
  bool sawDecodeErrors = false;           // in the current read: a packet or frame the decoder complained of

  void open();
  void openCodec();
  void rewind();
  void seekToKeyframe(int64_t slot);
  bool canContinueTo(int64_t target) const;
  bool receiveFrame();
  int64_t frameNumberOfCurrent();
  bool decodeUntil(int64_t target, const std::vector<int64_t>& wanted, std::vector<char>& filled, torch::Tensor& out);
  void chooseSkipFor(const AVPacket* pkt);
  bool abandonPlan(bool readFailed);
};

// Whether the codec's decoder (in this container) drops only unreferenced pictures under AVDISCARD_NONREF.
bool codecSkipsNonReference(AVCodecID id, const char* container);

}  // namespace torchvideo

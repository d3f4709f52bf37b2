// The list of a video stream's frames in presentation order, built by demuxing its packets (no
// decoding), so "frame i" has one meaning for the whole library and seeks know where keyframes are.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

extern "C" {
#include <libavformat/avformat.h>
}

namespace torchvideo {

struct FrameIndex {
  // How decoded frames are matched to frame numbers.
  //  - byTimestamp: every packet had a distinct pts, so a decoded frame's pts names its frame and
  //    the decoder may seek to keyframes.
  //  - otherwise (AVI with B-frames has dts only, and its decoded timestamps are off by the
  //    reorder delay): frames are counted in decoder output order from the start of the stream,
  //    which is also how PyAV hands them out; seeking then only ever goes back to the start.
  bool byTimestamp = false;
  // Sorted presentation timestamps (stream time_base), one per frame; empty unless byTimestamp.
  std::vector<int64_t> pts;
  // Frame numbers whose packets the demuxer flagged corrupt (the last one of a truncated file),
  // ascending. Decoding those gives whatever was left in the frame buffer, so they are refused.
  std::vector<int64_t> damagedFrames;
  // Frame numbers of keyframes (ascending) and the timestamp to seek to for each.
  std::vector<int64_t> keyframes;
  std::vector<int64_t> keyframeSeekTs;
  int64_t frameCount = 0;
  // Identity of the stream's first packet (discarded or not), to check that a rewind really landed
  // at the start.
  int64_t firstPacketPos = -1;
  int64_t firstPacketDts = AV_NOPTS_VALUE;
  // Timestamp handed to av_seek_frame to rewind to the first packet.
  int64_t startSeekTs = 0;
  // Presentation span of the indexed frames (last pts + its duration - first pts); 0 if unknown.
  int64_t spanTs = 0;

  // Frame number of a decoded frame's timestamp, or -1 when no indexed frame has it.
  int64_t frameForPts(int64_t ts) const;
  bool isDamaged(int64_t frame) const;
  // The last keyframe at or before `frame` (its position in `keyframes`), or -1 when there is none.
  int64_t keyframeSlotFor(int64_t frame) const;

  // For an index handed back from a cache (see VideoDecoderOptions::index): throws Error::range,
  // naming the first rule broken, unless the lists are what buildFrameIndex makes (sorted, in range,
  // one pts per frame when byTimestamp, one seek timestamp per keyframe).
  void checkConsistent() const;
};

// Reads every packet of stream `streamIndex` from the current position (other streams must be
// set to AVDISCARD_ALL by the caller, so their data is skipped, not read). Packets the demuxer
// flags for discarding (MP4 edit lists) and empty packets are left out: the decoder drops their
// frames too. Stops quietly at a read error after at least one packet (a truncated file keeps the
// frames it has); `readError` receives that error, 0 if the stream ended cleanly.
FrameIndex buildFrameIndex(AVFormatContext* fmt, int streamIndex, int* readError);

}  // namespace torchvideo

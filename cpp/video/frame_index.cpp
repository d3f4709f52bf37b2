#include "cpp/video/frame_index.h"

#include <algorithm>
#include <string>

#include "cpp/errors.h"
#include "cpp/video/ffmpeg_handles.h"

namespace torchvideo {

namespace {

struct PacketRecord {
  int64_t pts;
  int64_t dts;
  int64_t duration;
  bool key;
  bool corrupt;
};

}  // namespace

int64_t FrameIndex::frameForPts(int64_t ts) const {
  auto it = std::lower_bound(pts.begin(), pts.end(), ts);
  if (it == pts.end() || *it != ts) return -1;
  return it - pts.begin();
}

bool FrameIndex::isDamaged(int64_t frame) const {
  return std::binary_search(damagedFrames.begin(), damagedFrames.end(), frame);
}

int64_t FrameIndex::keyframeSlotFor(int64_t frame) const {
  auto it = std::upper_bound(keyframes.begin(), keyframes.end(), frame);
  return (it - keyframes.begin()) - 1;
}

void FrameIndex::checkConsistent() const {
  auto refuse = [](const std::string& why) { throw Error::range("the frame index is inconsistent: " + why); };
  auto increasingWithin = [&](const std::vector<int64_t>& frames, const char* name) {
    for (size_t i = 0; i < frames.size(); ++i) {
      if (frames[i] < 0 || frames[i] >= frameCount) {
        refuse(std::string(name) + " holds frame " + std::to_string(frames[i]) + " of " + std::to_string(frameCount));
      }
      if (i > 0 && frames[i] <= frames[i - 1]) refuse(std::string(name) + " is not strictly increasing");
    }
  };
  if (frameCount < 1) refuse("frameCount must be at least 1, got " + std::to_string(frameCount));
  if (byTimestamp && static_cast<int64_t>(pts.size()) != frameCount) {
    refuse("pts holds " + std::to_string(pts.size()) + " timestamps for " + std::to_string(frameCount) + " frames");
  }
  if (!byTimestamp && !pts.empty()) refuse("pts must be empty when frames are counted, not timed");
  for (size_t i = 1; i < pts.size(); ++i) {
    if (pts[i] <= pts[i - 1]) refuse("pts is not strictly increasing");
  }
  increasingWithin(keyframes, "keyframes");
  increasingWithin(damagedFrames, "damagedFrames");
  if (keyframeSeekTs.size() != keyframes.size()) {
    refuse(std::to_string(keyframeSeekTs.size()) + " seek timestamps for " + std::to_string(keyframes.size()) +
           " keyframes");
  }
}

FrameIndex buildFrameIndex(AVFormatContext* fmt, int streamIndex, int* readError) {
  FrameIndex index;
  std::vector<PacketRecord> packets;
  ffmpeg::PacketPtr pkt(av_packet_alloc());
  if (!pkt) {
    *readError = AVERROR(ENOMEM);
    return index;
  }
  *readError = 0;
  bool sawPacket = false;
  for (;;) {
    int ret = av_read_frame(fmt, pkt.get());
    if (ret < 0) {
      if (ret != AVERROR_EOF) *readError = ret;
      break;
    }
    const bool ours = pkt->stream_index == streamIndex && pkt->size > 0;
    if (ours && !sawPacket) {
      sawPacket = true;
      index.firstPacketPos = pkt->pos;
      index.firstPacketDts = pkt->dts;
      // Rewinding seeks to the first packet's decode timestamp (what MP4's index is keyed on; MKV
      // and AVI give dts == pts for it), else its pts.
      index.startSeekTs = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : (pkt->pts != AV_NOPTS_VALUE ? pkt->pts : 0);
    }
    if (ours && !(pkt->flags & AV_PKT_FLAG_DISCARD)) {
      packets.push_back({pkt->pts, pkt->dts, pkt->duration, (pkt->flags & AV_PKT_FLAG_KEY) != 0,
                         (pkt->flags & AV_PKT_FLAG_CORRUPT) != 0});
    }
    av_packet_unref(pkt.get());
  }

  index.frameCount = static_cast<int64_t>(packets.size());
  if (packets.empty()) return index;

  bool allPts = true;
  for (const auto& p : packets) {
    if (p.pts == AV_NOPTS_VALUE) {
      allPts = false;
      break;
    }
  }
  if (allPts) {
    index.pts.reserve(packets.size());
    for (const auto& p : packets) index.pts.push_back(p.pts);
    std::sort(index.pts.begin(), index.pts.end());
    // Two packets with one pts can't be told apart once decoded: count frames instead.
    index.byTimestamp = std::adjacent_find(index.pts.begin(), index.pts.end()) == index.pts.end();
  }

  if (!index.byTimestamp) {
    index.pts.clear();
    return index;
  }

  int64_t lastDuration = 0;
  int64_t maxPts = index.pts.back();
  for (const auto& p : packets) {
    if (p.pts == maxPts) lastDuration = p.duration > 0 ? p.duration : 0;
    if (p.corrupt) index.damagedFrames.push_back(index.frameForPts(p.pts));
    if (p.key) index.keyframes.push_back(index.frameForPts(p.pts));
  }
  std::sort(index.damagedFrames.begin(), index.damagedFrames.end());
  index.spanTs = maxPts + lastDuration - index.pts.front();

  std::sort(index.keyframes.begin(), index.keyframes.end());
  index.keyframes.erase(std::unique(index.keyframes.begin(), index.keyframes.end()), index.keyframes.end());
  // Seek by the keyframe's pts with AVSEEK_FLAG_BACKWARD: MKV/WebM cues and MPEG-TS are keyed on
  // pts; MP4's index is keyed on dts <= pts, so the backward search still lands on this keyframe
  // (or an earlier one, which only costs time). A seek that overshoots is caught while decoding.
  for (int64_t frame : index.keyframes) index.keyframeSeekTs.push_back(index.pts[frame]);
  return index;
}

}  // namespace torchvideo

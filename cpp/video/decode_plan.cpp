// The decode plan: when the frames a read wants are known, packets of frames it does not want go to the
// decoder with skip_frame = AVDISCARD_NONREF, so the decoder leaves out pictures nothing references and
// every frame it does make is the full decode's. A read that fails or meets decoder errors under the
// plan is done again in full, and the plan is given up for the file.
#include <algorithm>
#include <string>

#include "cpp/errors.h"
#include "cpp/video/video_decoder_impl.h"

namespace torchvideo {

// Codecs whose decoders honour AVDISCARD_NONREF by dropping only pictures nothing refers to: H.264 and
// HEVC (nal_ref_idc 0 / sub-layer non-reference NAL types), MPEG-4 Part 2 and MPEG-1/2 (B-frames).
// Others (VP9, AV1, ...) decode everything between keyframes. MPEG-4 Part 2 in AVI is left out: DivX's
// packed bitstream carries a B-frame inside the packet of the P-frame before it, so a packet's
// timestamp does not name the frame the decoder makes of it.
bool codecSkipsNonReference(AVCodecID id, const char* container) {
  switch (id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_HEVC:
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG2VIDEO: return true;
    case AV_CODEC_ID_MPEG4: return std::string(container) != "avi";
    default: return false;
  }
}

// Before a packet goes to the decoder: its frame is wanted (or unknown: decoded, to be safe), or it may
// be left out when nothing references it. With frame threads the setting travels with the packet
// (libavcodec copies skip_frame to the thread the packet is submitted to).
void VideoDecoder::Impl::chooseSkipFor(const AVPacket* pkt) {
  if (!skipsUnwanted) return;
  bool keep = true;
  if (wantedNow && pkt->pts != AV_NOPTS_VALUE) {
    const int64_t n = index.frameForPts(pkt->pts);
    keep = n < 0 || std::binary_search(wantedNow->begin(), wantedNow->end(), n);
    if (!keep) {
      maybeSkipped.erase(maybeSkipped.begin(), maybeSkipped.lower_bound(nextFrame));
      maybeSkipped.insert(n);
    }
  }
  codec->skip_frame = keep ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
}

// After a read that skipped frames and failed (a wanted frame went missing: the packets did not name
// their frames after all) or met decoder errors: skipping stops for this file and the decoder goes
// back to the start. True when the read must be done again.
bool VideoDecoder::Impl::abandonPlan(bool readFailed) {
  if (!skipsUnwanted || !(readFailed || sawDecodeErrors)) return false;
  skipsUnwanted = false;
  ++planFallbacks;
  codec->skip_frame = AVDISCARD_DEFAULT;
  rewind();
  return true;
}

// decodeWanted, done again in full (and so is the rest of the file) when, while frames were being
// skipped, a wanted frame went missing or the stream turned out damaged: what a damaged packet does
// to the decoder's state depends on which of its slices are decoded, so a skip could change the
// frames after it.
void VideoDecoder::decodePlanned(const std::vector<int64_t>& wanted, std::vector<char>& filled, torch::Tensor& out) {
  Impl& d = *impl_;
  d.sawDecodeErrors = false;
  try {
    decodeWanted(wanted, filled, out);
    if (!d.abandonPlan(false)) return;
  } catch (const Error& error) {
    if (error.code() != codes::kVideoDecode || !d.abandonPlan(true)) throw;
  }
  std::fill(filled.begin(), filled.end(), 0);
  decodeWanted(wanted, filled, out);
}

}  // namespace torchvideo

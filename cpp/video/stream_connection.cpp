// StreamReader::Connection::open: one opening of a stream source (a URL, a capture device or pushed
// bytes) under the source's whitelists, up to an opened decoder for its video stream.
#include <cstdint>
#include <string>

#include "cpp/errors.h"
#include "cpp/video/input_limits.h"
#include "cpp/video/open_video_file.h"
#include "cpp/video/stream_reader_parts.h"

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/mem.h>
}

namespace torchvideo {
namespace {

constexpr int kAvioBufferBytes = 1 << 16;

}  // namespace

using stream_detail::nowNs;

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

}  // namespace torchvideo

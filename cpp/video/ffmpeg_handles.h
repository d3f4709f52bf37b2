// Owning handles for the FFmpeg objects the decoder holds, so every exit path (exceptions from a
// half-built constructor included) frees them: no leaked file descriptors or buffers.
#pragma once

// FFmpeg's headers need UINT64_C defined before them (libavutil/common.h otherwise stops with
// "missing -D__STDC_CONSTANT_MACROS"): CMake defines __STDC_CONSTANT_MACROS, and <cstdint> comes
// first in every file that includes them, so any include order compiles (g++ 13's <string> and
// friends no longer pull it in). scripts/check-compat.sh checks the order.
#include <cstdint>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

namespace torchvideo::ffmpeg {

struct FormatContextDeleter {
  // avformat_close_input also closes the AVIOContext, i.e. the file descriptor.
  void operator()(AVFormatContext* ctx) const { avformat_close_input(&ctx); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct PacketDeleter {
  void operator()(AVPacket* pkt) const { av_packet_free(&pkt); }
};
struct FrameDeleter {
  void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};

using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

// av_err2str is a macro built on a C99 compound literal, which C++ rejects; this is the same text.
inline std::string errorString(int errnum) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  if (av_strerror(errnum, buf, sizeof(buf)) < 0) {
    return "unknown FFmpeg error " + std::to_string(errnum);
  }
  return buf;
}

}  // namespace torchvideo::ffmpeg

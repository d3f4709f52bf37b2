#include "cpp/video/rgb_converter.h"

#include <cstdint>
#include <cstring>
#include <string>

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

#include "cpp/errors.h"

namespace torchvideo {

RgbConverter::~RgbConverter() {
  sws_freeContext(sws_);
  av_freep(&bufData_[0]);
}

void RgbConverter::ensureBuffer(int width, int height) {
  if (bufData_[0] && bufWidth_ == width && bufHeight_ == height) return;
  av_freep(&bufData_[0]);
  // Same allocation as PyAV's VideoFrame._init (av_image_alloc, align 16): swscale picks its
  // code paths partly from destination alignment and stride, so writing into an identically laid
  // out buffer is what makes the bytes match PyAV's, not just come close.
  int ret = av_image_alloc(bufData_, bufLinesize_, width, height, AV_PIX_FMT_RGB24, 16);
  if (ret < 0) {
    bufData_[0] = nullptr;
    throw Error::torchvideo(codes::kVideoDecode, "cannot allocate an RGB frame of " + std::to_string(width) + "x" +
                                                     std::to_string(height) + ": " + ffmpeg::errorString(ret));
  }
  bufWidth_ = width;
  bufHeight_ = height;
}

void RgbConverter::convert(const AVFrame* frame, uint8_t* dst, int dstWidth, int dstHeight) {
  const auto srcFormat = static_cast<AVPixelFormat>(frame->format);
  const size_t rowBytes = static_cast<size_t>(dstWidth) * 3;

  // PyAV's reformat returns the frame untouched when it is already rgb24 at the wanted size.
  if (srcFormat == AV_PIX_FMT_RGB24 && frame->width == dstWidth && frame->height == dstHeight) {
    for (int y = 0; y < dstHeight; ++y) {
      std::memcpy(dst + y * rowBytes, frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0], rowBytes);
    }
    return;
  }

  // PyAV 10's to_ndarray -> reformat(format="rgb24") calls sws_getCachedContext with SWS_BILINEAR
  // and nothing else. Its src/dst colorspace default to the same value, so it never calls
  // sws_setColorspaceDetails: swscale's defaults apply (BT.601 matrix; limited range, except the
  // yuvj* formats that swscale itself treats as full range). The frame's color_range/colorspace
  // tags are ignored there, so they are ignored here too, on purpose, to produce the same bytes.
  sws_ = sws_getCachedContext(sws_, frame->width, frame->height, srcFormat, dstWidth, dstHeight, AV_PIX_FMT_RGB24,
                              SWS_BILINEAR, nullptr, nullptr, nullptr);
  if (!sws_) {
    const char* name = av_get_pix_fmt_name(srcFormat);
    throw Error::torchvideo(codes::kVideoDecode,
                            std::string("cannot convert pixel format ") + (name ? name : "unknown") + " to rgb24");
  }
  ensureBuffer(dstWidth, dstHeight);
  sws_scale(sws_, frame->data, frame->linesize, 0, frame->height, bufData_, bufLinesize_);
  for (int y = 0; y < dstHeight; ++y) {
    std::memcpy(dst + y * rowBytes, bufData_[0] + static_cast<ptrdiff_t>(y) * bufLinesize_[0], rowBytes);
  }
}

}  // namespace torchvideo

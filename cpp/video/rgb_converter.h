// Turns decoded frames into packed RGB24 exactly as PyAV's frame.to_ndarray(format="rgb24") does,
// so frames match what torchvision (which decodes with PyAV) feeds its models.
#pragma once

#include <cstdint>

#include "cpp/video/ffmpeg_handles.h"

namespace torchvideo {

class RgbConverter {
 public:
  RgbConverter() = default;
  ~RgbConverter();
  RgbConverter(const RgbConverter&) = delete;
  RgbConverter& operator=(const RgbConverter&) = delete;

  // Writes `frame` as dstHeight rows of dstWidth * 3 bytes, contiguous, into dst. A frame of
  // another size (a mid-stream resolution change) is scaled to dstWidth x dstHeight.
  // Throws torchvideo::Error (kVideoDecode) when swscale can't handle the frame's pixel format.
  void convert(const AVFrame* frame, uint8_t* dst, int dstWidth, int dstHeight);

 private:
  void ensureBuffer(int width, int height);

  SwsContext* sws_ = nullptr;
  uint8_t* bufData_[4] = {nullptr, nullptr, nullptr, nullptr};
  int bufLinesize_[4] = {0, 0, 0, 0};
  int bufWidth_ = 0;
  int bufHeight_ = 0;
};

}  // namespace torchvideo

#include "cpp/video/input_limits.h"

#include <cstdio>

#include "cpp/errors.h"

namespace torchvideo {
namespace {

std::string gibibytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return text;
}

}  // namespace

void checkFrameSize(int64_t width, int64_t height, const std::string& path) {
  if (width <= kMaxFrameSide && height <= kMaxFrameSide) return;
  // In double: a forged 65535x65535 header must not overflow the arithmetic that reports it.
  const double frameBytes = static_cast<double>(width) * static_cast<double>(height) * 3.0;
  throw Error::torchvideo(codes::kVideoOpen, "cannot open video '" + path + "': its header claims frames of " +
                                                 std::to_string(width) + "x" + std::to_string(height) + " (" +
                                                 gibibytes(frameBytes) + " per RGB frame), over the limit of " +
                                                 std::to_string(kMaxFrameSide) + " pixels a side");
}

void checkDecodeBytes(int64_t frames, int64_t width, int64_t height, const std::string& path) {
  const double bytes = static_cast<double>(frames) * static_cast<double>(width) * static_cast<double>(height) * 3.0;
  if (bytes <= static_cast<double>(kMaxDecodeBytes)) return;
  throw Error::torchvideo(codes::kVideoDecode,
                          "refusing to decode " + std::to_string(frames) + " frames of " + std::to_string(width) + "x" +
                              std::to_string(height) + " from '" + path + "' at once: " + gibibytes(bytes) +
                              " of RGB frames, over the limit of " + gibibytes(static_cast<double>(kMaxDecodeBytes)) +
                              " per call (ask for fewer frames per call)");
}

}  // namespace torchvideo

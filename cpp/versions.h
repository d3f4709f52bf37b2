#pragma once

#include <string>

namespace torchvideo {

// The LibTorch this addon was compiled against, e.g. "1.13.1".
std::string libtorchVersion();
// FFmpeg's version string as the linked libavutil reports it, e.g. "5.1.6-0+deb12u1".
std::string ffmpegVersion();

}  // namespace torchvideo

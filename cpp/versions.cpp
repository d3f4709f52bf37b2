#include "cpp/versions.h"

#include <torch/version.h>

#include <cstdint>

extern "C" {
#include <libavutil/avutil.h>
}

namespace torchvideo {

std::string libtorchVersion() { return TORCH_VERSION; }

std::string ffmpegVersion() { return av_version_info(); }

}  // namespace torchvideo

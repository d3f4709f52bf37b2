#include "cpp/versions.h"

#include <torch/version.h>

extern "C" {
#include <libavutil/avutil.h>
}

namespace torchvideo {

std::string libtorchVersion() { return TORCH_VERSION; }

std::string ffmpegVersion() { return av_version_info(); }

}  // namespace torchvideo

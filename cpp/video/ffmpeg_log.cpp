#include "cpp/video/ffmpeg_log.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" {
#include <libavutil/log.h>
}

namespace torchvideo {

void configureFfmpegLogging() {
  const char* requested = std::getenv("TORCHVIDEO_FFMPEG_LOG");
  if (requested == nullptr || *requested == '\0') {
    av_log_set_level(AV_LOG_QUIET);
    return;
  }
  const std::string level(requested);
  if (level == "error") av_log_set_level(AV_LOG_ERROR);
  else if (level == "info") av_log_set_level(AV_LOG_INFO);
  else if (level == "verbose") av_log_set_level(AV_LOG_VERBOSE);
  else if (level == "debug") av_log_set_level(AV_LOG_DEBUG);
  else av_log_set_level(AV_LOG_WARNING);
}

}  // namespace torchvideo

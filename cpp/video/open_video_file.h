// Opening a file as a media container and choosing its video stream, with the errors JS callers
// branch on. Kept apart from decoding so the decoder can reopen a file the same way.
#pragma once

#include <string>

#include "cpp/video/ffmpeg_handles.h"

namespace torchvideo {

// kFileNotFound when nothing is at `path`, kNotAFile for a directory or other non-regular file (the
// video's wording of cpp/regular_file.h's check).
void requireVideoFile(const std::string& path);

// Opens `path` by probing its content (the extension is only a hint to FFmpeg's probe, so a
// .avi holding MP4 still opens) and reads stream parameters. kVideoOpen with FFmpeg's reason.
ffmpeg::FormatContextPtr openMediaFile(const std::string& path);

// The stream av_find_best_stream picks among real video streams (cover art doesn't count).
// Every other stream is set to AVDISCARD_ALL so demuxing skips its data.
// kNoVideoStream when there is none; kVideoDecode when FFmpeg has no decoder for it.
int selectVideoStream(AVFormatContext* fmt, const std::string& path);

}  // namespace torchvideo

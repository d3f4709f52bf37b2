// Fills VideoInfo from a stream's parameters and its frame index.
#pragma once

#include "cpp/video/ffmpeg_handles.h"
#include "cpp/video/frame_index.h"
#include "cpp/video/video_info.h"

namespace torchvideo {

VideoInfo describeVideoStream(const AVFormatContext* fmt, const AVStream* stream, const FrameIndex& index);

}  // namespace torchvideo

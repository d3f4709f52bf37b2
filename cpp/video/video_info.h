// What a caller needs to know about a video before asking for frames: enough to plan clips
// (frameCount, fps) and to size buffers (width, height).
#pragma once

#include <cstdint>
#include <string>

namespace torchvideo {

struct VideoInfo {
  // Length of the video stream in seconds (stream duration when the container gives one, else the
  // span of the indexed presentation timestamps).
  double durationSec = 0.0;
  // The stream's average frame rate (FFmpeg avg_frame_rate = PyAV stream.average_rate), which is
  // what torchvision's VideoClips resamples from; falls back to r_frame_rate, then to
  // frameCount / durationSec, then to 1 / time_base.
  double fps = 0.0;
  // Frames actually in the stream, counted from its demuxed packets (not the header's nb_frames,
  // which MKV lacks and some muxers get wrong). Frame i is the i-th in presentation order.
  int64_t frameCount = 0;
  // Size of the decoded frames as PyAV's to_ndarray returns them: no sample-aspect-ratio scaling
  // and no rotation from display-matrix metadata.
  int width = 0;
  int height = 0;
  // FFmpeg's short codec name: "h264", "mpeg4", "mjpeg", "vp9", ...
  std::string codec;
};

}  // namespace torchvideo

#pragma once

namespace torchvideo {

// FFmpeg prints decoder warnings straight to stderr ("packed B-frames", "moov atom not found"):
// noise in a library whose errors already carry FFmpeg's reason. Silences them unless
// TORCHVIDEO_FFMPEG_LOG is set (to 'warning', 'info', 'debug', ... or anything for 'warning').
void configureFfmpegLogging();

}  // namespace torchvideo

#include "cpp/video/describe_stream.h"

namespace torchvideo {

namespace {

bool usable(AVRational r) { return r.num > 0 && r.den > 0; }

}  // namespace

VideoInfo describeVideoStream(const AVFormatContext* fmt, const AVStream* stream, const FrameIndex& index) {
  VideoInfo info;
  const AVCodecParameters* par = stream->codecpar;
  info.width = par->width;
  info.height = par->height;
  info.codec = avcodec_get_name(par->codec_id);
  info.frameCount = index.frameCount;

  const double timeBase = av_q2d(stream->time_base);
  if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0) {
    info.durationSec = stream->duration * timeBase;
  } else if (index.spanTs > 0) {
    info.durationSec = index.spanTs * timeBase;  // MKV/WebM: no per-stream duration
  } else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    info.durationSec = static_cast<double>(fmt->duration) / AV_TIME_BASE;
  }

  // torchvision's VideoClips takes PyAV's stream.average_rate (avg_frame_rate) as the fps it
  // resamples from, so that comes first; the rest are guesses for streams that lack it.
  if (usable(stream->avg_frame_rate)) {
    info.fps = av_q2d(stream->avg_frame_rate);
  } else if (usable(stream->r_frame_rate)) {
    info.fps = av_q2d(stream->r_frame_rate);
  } else if (info.frameCount > 0 && info.durationSec > 0) {
    info.fps = info.frameCount / info.durationSec;
  } else if (usable(stream->time_base)) {
    info.fps = 1.0 / timeBase;
  }
  if (info.durationSec <= 0 && info.fps > 0) info.durationSec = info.frameCount / info.fps;
  return info;
}

}  // namespace torchvideo

#include "cpp/video/open_video_file.h"

#include <cstdint>
#include <filesystem>
#include <system_error>

#include "cpp/errors.h"

extern "C" {
#include <libavutil/avutil.h>
}

namespace torchvideo {

void checkRegularFile(const std::string& path) {
  // FFmpeg's own message for these is a bare "No such file or directory" or, for a directory,
  // an open that "succeeds" and then fails to probe; checking first gives callers stable codes.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (path.empty() || status.type() == std::filesystem::file_type::not_found) {
    throw Error::torchvideo(codes::kFileNotFound, "video file not found: '" + path + "'");
  }
  if (ec) {
    throw Error::torchvideo(codes::kVideoOpen, "cannot open video '" + path + "': " + ec.message());
  }
  if (status.type() == std::filesystem::file_type::directory) {
    throw Error::torchvideo(codes::kNotAFile, "video path '" + path + "' is a directory, not a file");
  }
  if (status.type() != std::filesystem::file_type::regular) {
    throw Error::torchvideo(codes::kNotAFile, "video path '" + path + "' is not a regular file");
  }
}

ffmpeg::FormatContextPtr openMediaFile(const std::string& path) {
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw Error::torchvideo(codes::kVideoOpen, "cannot open video '" + path + "': out of memory");
  // PyAV (hence torchvision) opens every container with GENPTS: packets without a pts (AVI with
  // B-frames) get one generated from later packets' dts. Frame numbering follows those pts, so
  // without the flag such files would number their frames differently from torchvision.
  raw->flags |= AVFMT_FLAG_GENPTS;
  // On failure avformat_open_input frees the context itself and leaves raw null.
  int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (ret < 0) {
    throw Error::torchvideo(codes::kVideoOpen, "cannot open video '" + path + "': " + ffmpeg::errorString(ret));
  }
  ffmpeg::FormatContextPtr fmt(raw);
  ret = avformat_find_stream_info(fmt.get(), nullptr);
  if (ret < 0) {
    throw Error::torchvideo(codes::kVideoOpen,
                            "cannot read stream information of '" + path + "': " + ffmpeg::errorString(ret));
  }
  return fmt;
}

int selectVideoStream(AVFormatContext* fmt, const std::string& path) {
  // Cover art (an MP3's or M4A's attached picture) is a one-frame "video" stream: an audio file
  // with one reads as audio only, not as a one-frame video.
  auto isRealVideo = [fmt](int i) {
    const AVStream* st = fmt->streams[i];
    return st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
  };
  int best = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (best >= 0 && !isRealVideo(best)) {
    best = -1;
    for (unsigned i = 0; i < fmt->nb_streams && best < 0; ++i) {
      if (isRealVideo(static_cast<int>(i))) best = static_cast<int>(i);
    }
  }
  if (best < 0) {
    // A file cut inside its header (MP4 cut in the moov box) opens with nothing but a stub data
    // stream: that is a broken file, not an audio file.
    bool hasMedia = false;
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
      const AVCodecParameters* par = fmt->streams[i]->codecpar;
      const bool media = par->codec_type == AVMEDIA_TYPE_AUDIO || par->codec_type == AVMEDIA_TYPE_VIDEO ||
                         par->codec_type == AVMEDIA_TYPE_SUBTITLE;
      hasMedia = hasMedia || (media && par->codec_id != AV_CODEC_ID_NONE);
    }
    if (!hasMedia) {
      throw Error::torchvideo(
          codes::kVideoOpen,
          "cannot open video '" + path + "': no audio or video stream found (truncated or not a media file)");
    }
    throw Error::torchvideo(codes::kNoVideoStream, "'" + path + "' has no video stream");
  }
  const AVCodecParameters* par = fmt->streams[best]->codecpar;
  if (!avcodec_find_decoder(par->codec_id)) {
    char tag[AV_FOURCC_MAX_STRING_SIZE] = {0};
    av_fourcc_make_string(tag, par->codec_tag);
    throw Error::torchvideo(codes::kVideoDecode, "cannot decode the video stream of '" + path +
                                                     "': no decoder for codec " + avcodec_get_name(par->codec_id) +
                                                     " (tag " + tag + ")");
  }
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    fmt->streams[i]->discard = static_cast<int>(i) == best ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
  }
  return best;
}

}  // namespace torchvideo

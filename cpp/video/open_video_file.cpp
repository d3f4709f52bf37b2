#include "cpp/video/open_video_file.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <system_error>
#include <vector>

#include "cpp/errors.h"
#include "cpp/regular_file.h"
#include "cpp/video/input_limits.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/avutil.h>
#include <libavutil/dict.h>
}

namespace torchvideo {
namespace {

// The container FFmpeg's probe sees in the file's first bytes, for the error that names why a file was
// refused: the refusal itself is FFmpeg's format_whitelist, which reports only "invalid argument".
std::string probedContainer(const std::string& path) {
  constexpr std::streamsize kProbeBytes = 1 << 16;
  std::ifstream file(path, std::ios::binary);
  std::vector<unsigned char> buffer(kProbeBytes + AVPROBE_PADDING_SIZE, 0);
  file.read(reinterpret_cast<char*>(buffer.data()), kProbeBytes);
  AVProbeData probe{};
  probe.filename = path.c_str();
  probe.buf = buffer.data();
  probe.buf_size = static_cast<int>(file.gcount());
  const AVInputFormat* format = av_probe_input_format(&probe, /*is_opened=*/1);
  return format != nullptr ? format->name : "";
}

bool allowedContainer(const std::string& names) {
  // A demuxer's name may list several ("mov,mp4,m4a,..."); FFmpeg allows it when any is listed.
  return av_match_list(names.c_str(), kAllowedContainers, ',') > 0;
}

}  // namespace

void requireVideoFile(const std::string& path) {
  // FFmpeg's own message for these is a bare "No such file or directory" or, for a directory,
  // an open that "succeeds" and then fails to probe; checking first gives callers stable codes.
  std::error_code error;
  switch (pathKind(path, error)) {
    case PathKind::kRegularFile: return;
    case PathKind::kMissing: throw Error::torchvideo(codes::kFileNotFound, "video file not found: '" + path + "'");
    case PathKind::kUnreadable:
      throw Error::torchvideo(codes::kVideoOpen, "cannot open video '" + path + "': " + error.message());
    case PathKind::kDirectory:
      throw Error::torchvideo(codes::kNotAFile, "video path '" + path + "' is a directory, not a file");
    case PathKind::kOther: throw Error::torchvideo(codes::kNotAFile, "video path '" + path + "' is not a regular file");
  }
}

ffmpeg::FormatContextPtr openMediaFile(const std::string& path) {
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw Error::torchvideo(codes::kVideoOpen, "cannot open video '" + path + "': out of memory");
  // PyAV (hence torchvision) opens every container with GENPTS: packets without a pts (AVI with
  // B-frames) get one generated from later packets' dts. Frame numbering follows those pts, so
  // without the flag such files would number their frames differently from torchvision.
  raw->flags |= AVFMT_FLAG_GENPTS;
  // A video is untrusted data: FFmpeg opens only this local file ("file:" so that a name such as
  // "http:x.mp4" is a file name, not a URL) with the demuxers of real containers. Without the lists, a
  // playlist renamed .mp4 (HLS, ffconcat) makes the demuxer open whatever files or URLs it names.
  AVDictionary* options = nullptr;
  av_dict_set(&options, "protocol_whitelist", kAllowedProtocols, 0);
  av_dict_set(&options, "format_whitelist", kAllowedContainers, 0);
  // On failure avformat_open_input frees the context itself and leaves raw null.
  int ret = avformat_open_input(&raw, ("file:" + path).c_str(), nullptr, &options);
  av_dict_free(&options);
  if (ret < 0) {
    const auto container = probedContainer(path);
    if (!container.empty() && !allowedContainer(container)) {
      throw Error::torchvideo(codes::kVideoOpen,
                              "cannot open video '" + path + "': it is a '" + container +
                                  "' file, which torchvideo does not open (playlists and other containers that "
                                  "refer to further files or URLs are refused; allowed: " +
                                  kAllowedContainers + ")");
    }
    throw Error::torchvideo(codes::kVideoOpen, "cannot open video '" + path + "': " + ffmpeg::errorString(ret));
  }
  ffmpeg::FormatContextPtr fmt(raw);
  // Before stream probing decodes anything: what the header claims decides what FFmpeg allocates.
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* par = fmt->streams[i]->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) checkFrameSize(par->width, par->height, path);
  }
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
  checkFrameSize(par->width, par->height, path);
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

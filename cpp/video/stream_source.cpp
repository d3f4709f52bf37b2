#include "cpp/video/stream_source.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <utility>

#include "cpp/errors.h"
#include "cpp/regular_file.h"
#include "cpp/video/input_limits.h"
#include "cpp/video/open_video_file.h"

#ifdef TORCHVIDEO_HAVE_AVDEVICE
extern "C" {
#include <libavdevice/avdevice.h>
}
#endif

namespace torchvideo {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool isVideoDevicePath(const std::string& source) {
  static const std::string kPrefix = "/dev/video";
  if (source.size() <= kPrefix.size() || source.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  return std::all_of(source.begin() + static_cast<std::ptrdiff_t>(kPrefix.size()), source.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0; });
}

StreamTarget deviceTarget(const std::string& source) {
  StreamTarget target;
  target.displayName = source;
#ifndef TORCHVIDEO_HAVE_AVDEVICE
  throw Error::torchvideo(codes::kVideoOpen, "cannot open stream source '" + source +
                                                 "': this build has no capture devices (it was built without "
                                                 "FFmpeg's libavdevice)");
#endif
  std::error_code ec;
  const auto status = std::filesystem::status(source, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    throw Error::torchvideo(codes::kVideoOpen, "cannot open stream source '" + source + "': no such device");
  }
  if (status.type() != std::filesystem::file_type::character) {
    throw Error::torchvideo(codes::kVideoOpen,
                            "cannot open stream source '" + source + "': not a character device (a V4L2 camera)");
  }
  target.url = source;
  // The v4l2 demuxer opens the device itself (no protocol is involved) and is the only demuxer allowed.
  target.protocolWhitelist = "none";
  target.formatWhitelist = "video4linux2,v4l2";
  target.inputFormat = "video4linux2";
  target.isDevice = true;
  return target;
}

}  // namespace

std::string redactUserInfo(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto hostStart = scheme + 3;
  const auto hostEnd = url.find_first_of("/?#", hostStart);
  const auto at = url.rfind('@', hostEnd == std::string::npos ? url.size() : hostEnd);
  if (at == std::string::npos || at < hostStart) return url;
  return url.substr(0, hostStart) + "***" + url.substr(at);
}

void registerCaptureDevices() {
#ifdef TORCHVIDEO_HAVE_AVDEVICE
  static std::once_flag once;
  std::call_once(once, [] { avdevice_register_all(); });
#endif
}

StreamTarget resolveStreamSource(const std::string& source) {
  StreamTarget target;
  const auto sep = source.find("://");
  bool schemeShaped = sep != std::string::npos && sep > 0 && std::isalpha(static_cast<unsigned char>(source[0]));
  for (size_t i = 0; schemeShaped && i < sep; ++i) {
    const char c = source[i];
    schemeShaped = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  }
  if (schemeShaped) {
    const std::string scheme = lower(source.substr(0, sep));
    target.displayName = redactUserInfo(source);
    // Each protocol with what it is built on in FFmpeg, and nothing else: a redirect or a nested URL
    // to any other protocol (file, concat, subfile, data, ...) is refused by FFmpeg itself.
    static const std::pair<const char*, const char*> kProtocols[] = {
        {"http", "http,tcp"}, {"https", "https,tls,tcp"},   {"udp", "udp"},
        {"tcp", "tcp"},       {"rtsp", "rtsp,rtp,udp,tcp"}, {"srt", "srt"},
    };
    for (const auto& [name, whitelist] : kProtocols) {
      if (scheme != name) continue;
      target.url = source;
      target.protocolWhitelist = whitelist;
      target.formatWhitelist = kAllowedContainers;
      if (scheme == "rtsp") target.formatWhitelist += ",rtsp,sdp,rtp";
      return target;
    }
    throw Error::torchvideo(codes::kVideoOpen,
                            "cannot open stream source '" + target.displayName + "': the protocol '" + scheme +
                                "' is not allowed (allowed: http, https, udp, tcp, rtsp, srt; a local file is "
                                "given as a plain path, a camera as /dev/videoN)");
  }
  if (isVideoDevicePath(source)) return deviceTarget(source);
  // Anything else is a local path, opened as "file:<path>" exactly as openVideo opens files, so
  // "concat:a|b" or "subfile:..." is a (missing) file name, not an FFmpeg protocol.
  target.displayName = source;
  std::error_code error;
  if (pathKind(source, error) == PathKind::kMissing) {
    throw Error::torchvideo(codes::kVideoOpen,
                            "cannot open stream source '" + source +
                                "': no such file (a source is a file path, /dev/videoN, or a URL of http, https, "
                                "udp, tcp, rtsp or srt)");
  }
  requireVideoFile(source);
  target.url = "file:" + source;
  target.protocolWhitelist = kAllowedProtocols;
  target.formatWhitelist = kAllowedContainers;
  target.isFile = true;
  return target;
}

}  // namespace torchvideo

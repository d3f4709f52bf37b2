// What a live source string names, and what FFmpeg may open for it: exactly the protocols and demuxers
// that source needs, so a redirect, a nested URL or a playlist cannot reach anything else.
#pragma once

#include <string>

namespace torchvideo {

struct StreamTarget {
  std::string url;                // passed to avformat_open_input: "file:<path>", a device path, or the URL
  std::string protocolWhitelist;  // e.g. "https,tls,tcp"
  std::string formatWhitelist;    // kAllowedContainers, plus rtsp,sdp,rtp for rtsp://; video4linux2 for devices
  std::string inputFormat;        // a demuxer forced by name ("video4linux2"), or empty to probe
  std::string displayName;        // the source for messages, without any user:password@ of a URL
  bool isFile = false;
  bool isDevice = false;
  // Network sources and capture devices reopen after they close or fail; a file's end is its end.
  bool reopens() const { return !isFile; }
};

// A path opens as a local file; /dev/videoN as a V4L2 capture device (where this build has libavdevice);
// "scheme://..." as a URL of http, https, udp, tcp, rtsp or srt. Throws kVideoOpen naming the source for
// any other scheme (file://, ftp://, ...), a path that does not exist, or a device this build cannot
// open; kNotAFile for a directory or a non-regular file.
StreamTarget resolveStreamSource(const std::string& source);

// "rtsp://user:secret@host/x" -> "rtsp://***@host/x": messages and logs must not carry credentials.
std::string redactUserInfo(const std::string& url);

// Registers libavdevice's demuxers once (a no-op without libavdevice).
void registerCaptureDevices();

}  // namespace torchvideo

// Errors raised by the C++ core. The binding turns each into the matching JS error: kind Type ->
// TypeError, Range -> RangeError, TorchVideo -> TorchVideoError carrying `code`.
#pragma once

#include <array>
#include <stdexcept>
#include <string>

namespace torchvideo {

enum class ErrorKind { Type, Range, TorchVideo };

// Stable codes that JS callers may branch on (TorchVideoError.code). The binding exports kAllCodes
// as the package's `errorCodes`; the README's list is tested against it.
namespace codes {
inline constexpr const char* kFileNotFound = "ERR_FILE_NOT_FOUND";
inline constexpr const char* kNotAFile = "ERR_NOT_A_FILE";
inline constexpr const char* kModelLoad = "ERR_MODEL_LOAD";
inline constexpr const char* kDeviceUnavailable = "ERR_DEVICE_UNAVAILABLE";
inline constexpr const char* kDeviceMismatch = "ERR_DEVICE_MISMATCH";
inline constexpr const char* kForward = "ERR_FORWARD";
inline constexpr const char* kTorch = "ERR_TORCH";
inline constexpr const char* kDisposed = "ERR_DISPOSED";
inline constexpr const char* kVideoOpen = "ERR_VIDEO_OPEN";
inline constexpr const char* kNoVideoStream = "ERR_NO_VIDEO_STREAM";
inline constexpr const char* kVideoDecode = "ERR_VIDEO_DECODE";
inline constexpr const char* kNative = "ERR_NATIVE";
// A trainer checkpoint that cannot be read: torn, foreign, or from a newer format.
inline constexpr const char* kCheckpoint = "ERR_CHECKPOINT";
// Raised by the TS layer (a dataset list it cannot read); listed here so the list stays one.
inline constexpr const char* kDataset = "ERR_DATASET";
// A collective of a multi-process job failed: a rank stopped, the network broke, or the timeout passed.
inline constexpr const char* kDistributed = "ERR_DISTRIBUTED";
// A batcher's queue holds maxQueueClips already: the call is refused at once (overload, not failure).
inline constexpr const char* kQueueFull = "ERR_QUEUE_FULL";
// A call's timeoutMs passed before it ran: it never ran.
inline constexpr const char* kTimeout = "ERR_TIMEOUT";

inline constexpr std::array<const char*, 17> kAllCodes{
    kFileNotFound, kNotAFile,   kModelLoad,   kDeviceUnavailable, kDeviceMismatch, kForward,
    kTorch,        kDisposed,   kVideoOpen,   kNoVideoStream,     kVideoDecode,    kNative,
    kDataset,      kCheckpoint, kDistributed, kQueueFull,         kTimeout,
};
}  // namespace codes

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, const std::string& message)
      : std::runtime_error(message), kind_(kind), code_(std::move(code)) {}

  static Error type(const std::string& message) { return Error(ErrorKind::Type, "ERR_INVALID_ARG_TYPE", message); }
  static Error range(const std::string& message) { return Error(ErrorKind::Range, "ERR_OUT_OF_RANGE", message); }
  static Error torchvideo(const std::string& code, const std::string& message) {
    return Error(ErrorKind::TorchVideo, code, message);
  }

  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }

 private:
  ErrorKind kind_;
  std::string code_;
};

}  // namespace torchvideo

// LibTorch reports failures as c10::Error with a long backtrace; users need the first line.
#pragma once

#include <c10/util/Exception.h>

#include <string>

#include "cpp/errors.h"

namespace torchvideo {

// A TorchScript failure starts with the interpreter's traceback and ends with the original
// "RuntimeError: <reason>": keep the reason. Anything else: keep the first line.
inline std::string torchMessage(const std::string& text) {
  static const std::string kMarker = "RuntimeError: ";
  const auto marker = text.rfind(kMarker);
  std::string message = marker == std::string::npos ? text : text.substr(marker + kMarker.size());
  const auto end = message.find('\n');
  return end == std::string::npos ? message : message.substr(0, end);
}

// Runs `body`, turning LibTorch's exceptions into a TorchVideoError with `code` whose message is
// "<context>: <LibTorch's message without its backtrace>". torchvideo::Error passes through as is.
template <typename Body>
void rethrowTorchErrors(const char* code, const std::string& context, Body&& body) {
  try {
    body();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& error) {
    throw Error::torchvideo(code, context + ": " + torchMessage(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    throw Error::torchvideo(code, context + ": " + torchMessage(error.what()));
  }
}

}  // namespace torchvideo

// LibTorch reports failures as c10::Error with a long backtrace; users need the first line.
#pragma once

#include <c10/util/Exception.h>

#include <string>

#include "cpp/errors.h"

namespace torchvideo {

// A TorchScript failure starts with the interpreter's traceback and ends with the original
// "RuntimeError: <reason>": keep the reason. Anything else: keep the first line that says something.
// Some of LibTorch's messages (e.g. from a damaged archive) start with a newline or are empty: the
// result is never empty, so every error says what went wrong.
inline std::string torchMessage(const std::string& text) {
  auto firstLine = [](const std::string& from) {
    size_t start = 0;
    while (start < from.size()) {
      size_t end = from.find('\n', start);
      if (end == std::string::npos) end = from.size();
      const auto first = from.find_first_not_of(" \t\r", start);
      if (first != std::string::npos && first < end) {
        const auto last = from.find_last_not_of(" \t\r", end - 1);
        return from.substr(first, last - first + 1);
      }
      start = end + 1;
    }
    return std::string();
  };
  static const std::string kMarker = "RuntimeError: ";
  const auto marker = text.rfind(kMarker);
  std::string message = marker == std::string::npos ? "" : firstLine(text.substr(marker + kMarker.size()));
  if (message.empty()) message = firstLine(text);
  return message.empty() ? "LibTorch gave no reason" : message;
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

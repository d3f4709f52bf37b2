#include "cpp/shape_text.h"

#include <sstream>

namespace torchvideo {

std::string shapeText(c10::IntArrayRef sizes) {
  std::ostringstream text;
  text << sizes;
  return text.str();
}

}  // namespace torchvideo

// A tensor's shape as error messages write it, "[2, 3, 16, 112, 112]": one spelling for every
// message that names a shape (the model's, the trainer's, preprocessing's and the binding's checks).
#pragma once

#include <c10/util/ArrayRef.h>

#include <string>

namespace torchvideo {

std::string shapeText(c10::IntArrayRef sizes);

}  // namespace torchvideo

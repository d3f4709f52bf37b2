#include "cpp/dtypes.h"

namespace torchvideo {

std::string dtypeName(c10::ScalarType type) {
  if (auto row = dtypeByScalarType(type)) return row->name;
  if (type == c10::ScalarType::Half) return "float16";
  if (type == c10::ScalarType::BFloat16) return "bfloat16";
  if (type == c10::ScalarType::Bool) return "bool";
  return c10::toString(type);
}

}  // namespace torchvideo

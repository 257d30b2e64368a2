// tests/fuzz/fuzz_arrays.hpp: what a harness does with an io::Array a reader returned: converts it
// to the tensor type its dtype loads into (io::to_tensor checks rank, dtype and byte count again),
// and, once in the wrong type, expects the dtype error.
#pragma once

#include <cstdint>

#include "fuzz_common.hpp"
#include "trustml/io/array.hpp"

namespace trustml_fuzz {

inline void exercise_array(const trustml::io::Array& array) {
  using trustml::io::DType;
  guard([&] {
    switch (array.dtype) {
      case DType::F32:
      case DType::F16:
      case DType::BF16: (void)trustml::io::to_tensor<float>(array); break;
      case DType::F64: (void)trustml::io::to_tensor<double>(array); break;
      case DType::I64: (void)trustml::io::to_tensor<std::int64_t>(array); break;
      default: (void)trustml::io::to_tensor<float>(array); break;  // a dtype error
    }
  });
}

}  // namespace trustml_fuzz

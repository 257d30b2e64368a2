// trustml/io/array.hpp: Array, the type-erased host array that the file formats read and write.
//
// File formats see names, a dtype, a shape and little-endian bytes; they never see Tensor<T, D>,
// so io depends on no module system and can hold dtypes that trustml tensors do not have (int32,
// uint8, bool, float16, bfloat16). to_array and to_tensor convert at the boundary, checking the
// dtype exactly: a checkpoint of doubles never loads silently into a float model.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/core/scalar.hpp"
#include "trustml/core/shape.hpp"
#include "trustml/device/cpu.hpp"
#include "trustml/tensor/tensor.hpp"

// Array bytes are the files' bytes (both formats are little-endian) and are copied to and from
// tensors with memcpy; a big-endian host would need byte swaps that nothing here does.
static_assert(std::endian::native == std::endian::little, "trustml::io assumes a little-endian host");

namespace trustml::io {

enum class DType { F32, F64, I64, I32, U8, BOOL, F16, BF16 };

inline constexpr DType kAllDTypes[] = {DType::F32, DType::F64,  DType::I64, DType::I32,
                                       DType::U8,  DType::BOOL, DType::F16, DType::BF16};

// The safetensors spelling ("F32", ...), also used in every io error message.
constexpr const char* dtype_code(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}

inline std::optional<DType> parse_dtype_code(std::string_view code) {
  for (DType d : kAllDTypes)
    if (code == dtype_code(d)) return d;
  return std::nullopt;
}

// "F32, F64, ..." for error messages that list what is supported.
inline std::string supported_dtype_codes() {
  std::string out;
  for (DType d : kAllDTypes) out += (out.empty() ? "" : ", ") + std::string(dtype_code(d));
  return out;
}

constexpr std::size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16: return 2;
    case DType::U8:
    case DType::BOOL: return 1;
  }
  return 0;
}

inline std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_code(dtype); }

// A dtype, a row-major shape (empty for a 0-d scalar) and the elements' little-endian bytes.
struct Array {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

// Prints a shape as "[2, 3]" in error messages.
struct ShapeText {
  const std::vector<std::int64_t>& dims;
  friend std::ostream& operator<<(std::ostream& os, const ShapeText& s) {
    os << '[';
    for (std::size_t i = 0; i < s.dims.size(); ++i) os << (i ? ", " : "") << s.dims[i];
    return os << ']';
  }
};

// The number of bytes an array of `shape` and `dtype` holds, or nullopt when a dimension is
// negative, or the element count, a stride (detail::checked_product) or the byte count overflows
// int64: loaders call this on untrusted shapes before they compare anything with a file size.
inline std::optional<std::uint64_t> byte_size(const std::vector<std::int64_t>& shape, DType dtype) {
  for (std::int64_t d : shape)
    if (d < 0) return std::nullopt;
  const std::optional<std::int64_t> count = ::trustml::detail::checked_product(shape.begin(), shape.end());
  const auto element = static_cast<std::int64_t>(element_size(dtype));
  std::int64_t bytes;
  if (!count || element == 0 || __builtin_mul_overflow(*count, element, &bytes)) return std::nullopt;  // 0: not a DType
  return static_cast<std::uint64_t>(bytes);
}

// What loaders say of a shape for which byte_size gives nullopt (after their own check of signs).
inline constexpr const char* kTooLarge = " is too large: its byte count or a stride overflows int64";

// Throws a trustml::Error from `op` unless the array's shape is valid and its bytes fill it exactly
// (and, for BOOL, every byte is 0 or 1: other values are not bools in NumPy, PyTorch or C++).
// `where` (a file path and ": ", say) starts the message after the op's name.
inline void check_array(const Array& array, const char* op, std::string_view where = "") {
  for (std::int64_t d : array.shape)
    TRUSTML_CHECK(d >= 0, op, where, "array '", array.name, "' has a negative dimension in shape ",
                  ShapeText{array.shape});
  const auto expected = byte_size(array.shape, array.dtype);
  TRUSTML_CHECK(expected.has_value(), op, where, "array '", array.name, "': shape ", ShapeText{array.shape}, kTooLarge);
  TRUSTML_CHECK(*expected == array.bytes.size(), op, where, "array '", array.name, "' of ", array.dtype, " and shape ",
                ShapeText{array.shape}, " needs ", *expected, " bytes, has ", array.bytes.size());
  if (array.dtype == DType::BOOL)
    for (std::size_t i = 0; i < array.bytes.size(); ++i)
      TRUSTML_CHECK(array.bytes[i] <= std::byte{1}, op, where, "BOOL array '", array.name, "' has byte value ",
                    static_cast<int>(array.bytes[i]), " at element ", i, " (must be 0 or 1)");
}

// The dtype that stores T exactly; nullopt for complex types, which neither format has here.
template <Scalar T>
constexpr std::optional<DType> dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::F32;
  else if constexpr (std::is_same_v<T, double>) return DType::F64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DType::I64;
  else return std::nullopt;
}

// IEEE binary16 to float, exactly (every half is a float).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h >> 15) << 31;
  const std::uint32_t exponent = (h >> 10) & 0x1f;
  const std::uint32_t mantissa = h & 0x3ff;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  return std::bit_cast<float>(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a float32.
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// A named host copy of a tensor (any device, any strides). Complex tensors are an error: neither
// safetensors nor NPY has a complex dtype here; store real and imaginary parts as two tensors.
template <Scalar T, class D>
Array to_array(std::string name, const Tensor<T, D>& tensor) {
  constexpr std::optional<DType> dtype = dtype_of<T>();
  if constexpr (!dtype) {
    ::trustml::detail::fail("to_array", "tensor '", name, "' has dtype ", trustml::dtype_name<T>(),
                            ", which safetensors and NPY files cannot hold here; save its real and imaginary parts as "
                            "two real tensors");
  } else {
    Array array{std::move(name), *dtype, {}, {}};
    array.shape.assign(tensor.shape().begin(), tensor.shape().end());
    const std::vector<T> values = tensor.to_vector();
    array.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(array.bytes.data(), values.data(), array.bytes.size());
    return array;
  }
}

// The tensor an array holds, on device D. The array's dtype must be the one that stores T exactly,
// except that F16 and BF16 arrays also load into Tensor<float> (the conversion is exact).
template <Scalar T, class D = Cpu>
Tensor<T, D> to_tensor(const Array& array) {
  constexpr std::optional<DType> expected = dtype_of<T>();
  if constexpr (!expected) {
    ::trustml::detail::fail("to_tensor", "array '", array.name, "' holds ", array.dtype, ", but Tensor<",
                            trustml::dtype_name<T>(), "> cannot be loaded from a file here (no complex dtype)");
  } else {
    constexpr bool is_float = std::is_same_v<T, float>;
    const bool widen_half = is_float && (array.dtype == DType::F16 || array.dtype == DType::BF16);
    TRUSTML_CHECK(array.dtype == *expected || widen_half, "to_tensor", "array '", array.name, "' holds ", array.dtype,
                  ", expected ", *expected, is_float ? " (or F16/BF16)" : "", " for Tensor<", trustml::dtype_name<T>(),
                  ">");
    check_array(array, "to_tensor");
    TRUSTML_CHECK(array.shape.size() <= static_cast<std::size_t>(kMaxRank), "to_tensor", "array '", array.name,
                  "' has rank ", array.shape.size(), " (shape ", ShapeText{array.shape}, "), more than trustml's ",
                  kMaxRank);
    const Shape shape = Shape::from(array.shape.begin(), array.shape.end());
    std::vector<T> values(static_cast<std::size_t>(shape.numel()));
    if (widen_half) {
      const auto convert = array.dtype == DType::F16 ? half_to_float : bfloat16_to_float;
      for (std::size_t i = 0; i < values.size(); ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, array.bytes.data() + 2 * i, 2);
        values[i] = static_cast<T>(convert(bits));
      }
    } else if (!values.empty()) {
      std::memcpy(values.data(), array.bytes.data(), array.bytes.size());
    }
    return Tensor<T, D>::from_vector(values, shape);
  }
}

}  // namespace trustml::io

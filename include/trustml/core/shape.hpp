// trustml/core/shape.hpp: Shape (rank <= 8, row-major) and PyTorch broadcasting.
//
// A Shape is a fixed-capacity array so that it can be copied into a device functor by value and
// never touches the heap. The same type stores strides (in elements, may be 0 for broadcast).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>

#include "trustml/core/config.hpp"

namespace trustml {

inline constexpr int kMaxRank = 8;

namespace detail {
// The product of the sizes [first, last), multiplied from the last one, or nullopt when a partial
// product overflows std::int64_t. The partial products are the row-major strides, so a 0 does not
// excuse the others: [0, 2^32, 2^32] holds no elements, but its first stride would be 2^64.
template <class It>
std::optional<std::int64_t> checked_product(It first, It last) {
  std::int64_t product = 1;
  while (last != first)
    if (__builtin_mul_overflow(product, *--last, &product)) return std::nullopt;
  return product;
}
}  // namespace detail

struct Shape {
  std::array<std::int64_t, kMaxRank> dims{};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> list) {
    TRUSTML_CHECK(list.size() <= kMaxRank, "Shape", "rank ", list.size(), " exceeds the maximum rank ", kMaxRank);
    for (auto d : list) dims[rank++] = d;
  }
  template <class It>
  static Shape from(It first, It last) {
    Shape s;
    for (; first != last; ++first) {
      TRUSTML_CHECK(s.rank < kMaxRank, "Shape", "rank exceeds the maximum rank ", kMaxRank);
      s.dims[s.rank++] = static_cast<std::int64_t>(*first);
    }
    return s;
  }
  static Shape filled(int rank, std::int64_t value) {
    Shape s;
    s.rank = rank;
    for (int i = 0; i < rank; ++i) s.dims[i] = value;
    return s;
  }

  TRUSTML_HD std::int64_t operator[](int i) const { return dims[i]; }
  TRUSTML_HD std::int64_t& operator[](int i) { return dims[i]; }
  TRUSTML_HD int size() const { return rank; }
  // The number of elements. Host only: device code gets the counts of tensors already allocated.
  // `op` names the caller in the error thrown when a row-major stride or the count overflows int64.
  std::int64_t numel(const char* op = "Shape::numel") const {
    const std::optional<std::int64_t> n = detail::checked_product(begin(), end());
    TRUSTML_CHECK(n.has_value(), op, "shape ", *this, " is too large: its element count or a stride overflows int64");
    return *n;
  }
  void push_back(std::int64_t d) {
    TRUSTML_CHECK(rank < kMaxRank, "Shape", "rank exceeds the maximum rank ", kMaxRank);
    dims[rank++] = d;
  }
  const std::int64_t* begin() const { return dims.data(); }
  const std::int64_t* end() const { return dims.data() + rank; }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; ++i)
      if (a.dims[i] != b.dims[i]) return false;
    return true;
  }
  friend std::ostream& operator<<(std::ostream& os, const Shape& s) {
    os << '[';
    for (int i = 0; i < s.rank; ++i) os << (i ? ", " : "") << s.dims[i];
    return os << ']';
  }
  std::string str() const {
    std::ostringstream os;
    os << *this;
    return os.str();
  }
};

using Strides = Shape;

// Row-major (C-contiguous) strides of a shape; `op` names the caller in the overflow error.
inline Strides contiguous_strides(const Shape& shape, const char* op = "contiguous_strides") {
  (void)shape.numel(op);  // checks every product computed below
  Strides s;
  s.rank = shape.rank;
  std::int64_t step = 1;
  for (int i = shape.rank - 1; i >= 0; --i) {
    s.dims[i] = step;
    step *= shape.dims[i];
  }
  return s;
}

// Resolves a possibly negative dimension index against a rank, naming the op on failure.
inline int normalize_dim(int dim, int rank, const char* op) {
  int d = dim < 0 ? dim + rank : dim;
  TRUSTML_CHECK(d >= 0 && d < rank, op, "dimension ", dim, " is out of range for a tensor of rank ", rank);
  return d;
}

// PyTorch broadcasting: align from the right; each pair of sizes must be equal or one of them 1.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  Shape out;
  out.rank = a.rank > b.rank ? a.rank : b.rank;
  for (int i = 0; i < out.rank; ++i) {
    std::int64_t da = i < out.rank - a.rank ? 1 : a.dims[i - (out.rank - a.rank)];
    std::int64_t db = i < out.rank - b.rank ? 1 : b.dims[i - (out.rank - b.rank)];
    TRUSTML_CHECK(da == db || da == 1 || db == 1, op, "shapes ", a, " and ", b, " cannot be broadcast together");
    out.dims[i] = da == 1 ? db : da;
  }
  return out;
}

// Whether a view of `shape` with `strides` is row-major contiguous (size-1 dims may have any stride).
inline bool is_contiguous(const Shape& shape, const Strides& strides) {
  std::int64_t step = 1;
  for (int i = shape.rank - 1; i >= 0; --i) {
    if (shape.dims[i] != 1 && strides.dims[i] != step) return false;
    step *= shape.dims[i];
  }
  return true;
}

// Strides that read a tensor of `shape`/`strides` as if it had shape `target` (0 on broadcast dims).
inline Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  Strides out;
  out.rank = target.rank;
  int shift = target.rank - shape.rank;
  for (int i = 0; i < target.rank; ++i) {
    if (i < shift || shape.dims[i - shift] == 1) out.dims[i] = 0;
    else out.dims[i] = strides.dims[i - shift];
  }
  return out;
}

}  // namespace trustml

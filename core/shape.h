// Shapes and strides: small integer vectors plus the arithmetic views and broadcasting need.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/small_vector.h"

namespace coil {

// Sizes per dimension (outermost first) and strides (in elements, not bytes). Up to 8 dims
// live inline; std::vector<int64_t> converts both ways.
using Shape = SmallVector<int64_t, 8>;
using Strides = SmallVector<int64_t, 8>;

// Largest rank the kernels accept (they pass index arithmetic by value to the GPU).
inline constexpr int kMaxDims = 8;

int64_t shape_numel(const Shape& s);
Strides contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);  // "(8, 256, 64)"; a scalar prints as "()"

// Wraps a possibly negative dimension into [0, ndim); throws naming op when out of range.
int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op);
// Likewise for an existing dimension of `shape`, naming the shape in the message. Unlike the form
// above, a rank-0 shape has no dimension at all (the form above admits 0 and -1 for it).
int64_t normalize_dim(int64_t dim, const Shape& shape, const char* op);

// NumPy broadcasting of two shapes; throws naming op when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace coil

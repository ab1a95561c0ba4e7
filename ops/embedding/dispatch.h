// The dtype dispatch both embedding backends (cpu.cpp, cuda.cu) share: host code only.
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"

namespace coil::embedding {

// Calls f(TypeTag<T>, TypeTag<I>) for the float type of `values` (f32, f64) and the index type
// of `indices` (i32, i64); any other dtype throws naming the op.
template <class F>
void dispatch_types(const Tensor& values, const Tensor& indices, F&& f) {
  // Explicit `-> void`: dispatch deduces the return type from an f32 tag, which would otherwise
  // instantiate the bodies with float indices.
  dispatch<DType::f32, DType::f64>(values.dtype(), "embedding", [&](auto t) -> void {
    dispatch<DType::i32, DType::i64>(indices.dtype(), "embedding",
                                     [&](auto i) -> void { f(t, i); });
  });
}

}  // namespace coil::embedding

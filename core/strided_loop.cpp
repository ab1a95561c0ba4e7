// Builds StridedLoop descriptors: drops size-1 dims and merges dims that are contiguous for
// every operand at once.
#include "core/strided_loop.h"

#include "core/tensor.h"

namespace coil {

template <int N>
StridedLoop<N> make_strided_loop(const Tensor* const (&ops)[N], const char* op) {
  StridedLoop<N> L;
  const Shape& shape = ops[0]->shape();
  COIL_CHECK(shape.size() <= 64, "[{}] rank {} is too large", op, shape.size());
  L.numel = shape_numel(shape);
  for (int k = 0; k < N; ++k) {
    COIL_CHECK(ops[k]->shape() == shape, "[{}] internal: operand shapes {} vs {}", op,
               shape_str(ops[k]->shape()), shape_str(shape));
    L.data[k] = static_cast<char*>(ops[k]->data_ptr());
    L.itemsize[k] = int(ops[k]->itemsize());
  }
  // Walk from innermost out, merging dim d into the current group when every operand steps
  // over the group exactly with stride[d].
  int64_t sizes[64];
  int64_t strides[N][64];
  int n = 0;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool merge = n > 0;
    for (int k = 0; merge && k < N; ++k)
      merge = ops[k]->strides()[d] == strides[k][n - 1] * sizes[n - 1];
    if (merge) {
      sizes[n - 1] *= shape[d];
    } else {
      sizes[n] = shape[d];
      for (int k = 0; k < N; ++k) strides[k][n] = ops[k]->strides()[d];
      ++n;
    }
  }
  COIL_CHECK(n <= kMaxDims, "[{}] tensors of more than {} non-mergeable dimensions are not supported: {}",
             op, kMaxDims, shape_str(shape));
  L.ndim = n;
  for (int i = 0; i < n; ++i) {  // back to outermost-first
    L.sizes[i] = sizes[n - 1 - i];
    for (int k = 0; k < N; ++k) L.strides[k][i] = strides[k][n - 1 - i];
  }
  if (L.numel == 1 && n == 0) {  // a single element: a 1-D loop of length 1
    L.ndim = 1;
    L.sizes[0] = 1;
    for (int k = 0; k < N; ++k) L.strides[k][0] = 1;
  }
  return L;
}

template StridedLoop<1> make_strided_loop<1>(const Tensor* const (&)[1], const char*);
template StridedLoop<2> make_strided_loop<2>(const Tensor* const (&)[2], const char*);
template StridedLoop<3> make_strided_loop<3>(const Tensor* const (&)[3], const char*);
template StridedLoop<4> make_strided_loop<4>(const Tensor* const (&)[4], const char*);

}  // namespace coil

// CPU kernels of the embedding op: an OpenMP row gather that validates indices as it goes, and
// a backward that groups positions per vocabulary row (counting sort) so every row of dweight
// is summed by one thread in position order.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "core/cpu/loops.h"
#include "ops/embedding/dispatch.h"
#include "ops/embedding/kernels.h"

namespace coil::cpu {
namespace {

template <class T, class I>
void gather(const Tensor& out, const Tensor& weight, const Tensor& indices) {
  const int64_t n = indices.numel(), V = weight.size(0), D = weight.size(1);
  const I* idx = indices.data<I>();
  const T* w = weight.data<T>();
  T* o = out.data<T>();
  // Throwing inside an OpenMP region aborts, so bad positions are noted and reported after. The
  // smallest bad position is kept, so the message does not depend on thread timing.
  std::atomic<int64_t> first_bad{n};
  parallel_for(n, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(D, 1)), [&](int64_t i) {
    int64_t v = int64_t(idx[i]);
    if (v < 0 || v >= V) {
      int64_t cur = first_bad.load();
      while (i < cur && !first_bad.compare_exchange_weak(cur, i)) {
      }
      return;
    }
    if (D > 0) std::memcpy(o + i * D, w + v * D, size_t(D) * sizeof(T));
  });
  int64_t bad = first_bad.load();
  if (bad < n)
    COIL_FAIL("{}", bad_index_message(int64_t(idx[bad]), bad, V, shape_str(weight.shape()),
                                      shape_str(indices.shape())));
}

template <class T, class I>
void scatter_add(const Tensor& dweight, const Tensor& grad, const Tensor& indices,
                 int64_t padding_idx) {
  const int64_t n = indices.numel(), V = dweight.size(0), D = dweight.size(1);
  const I* idx = indices.data<I>();
  const T* g = grad.data<T>();
  T* dw = dweight.data<T>();
  // start[v]..start[v+1] is v's slice of `order`, which lists positions in increasing order.
  std::vector<int64_t> start(size_t(V) + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = int64_t(idx[i]);
    COIL_CHECK(v >= 0 && v < V, "[embedding] index {} is outside [0, {}) in backward: indices {}",
               v, V, shape_str(indices.shape()));
    ++start[size_t(v) + 1];
  }
  for (int64_t v = 0; v < V; ++v) start[size_t(v) + 1] += start[size_t(v)];
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::vector<int64_t> next(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < n; ++i) order[size_t(next[size_t(idx[i])]++)] = i;
  parallel_for(V, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(D, 1)), [&](int64_t v) {
    T* row = dw + v * D;
    std::fill(row, row + D, T(0));
    if (v == padding_idx) return;
    for (int64_t p = start[size_t(v)]; p < start[size_t(v) + 1]; ++p) {
      const T* src = g + order[size_t(p)] * D;
      for (int64_t d = 0; d < D; ++d) row[d] += src[d];
    }
  });
}

}  // namespace

void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices) {
  embedding::dispatch_types(weight, indices, [&](auto t, auto i) {
    gather<typename decltype(t)::type, typename decltype(i)::type>(out, weight, indices);
  });
}

void embedding_backward(const Tensor& dweight, const Tensor& grad, const Tensor& indices,
                        int64_t padding_idx) {
  embedding::dispatch_types(grad, indices, [&](auto t, auto i) {
    scatter_add<typename decltype(t)::type, typename decltype(i)::type>(dweight, grad, indices,
                                                                        padding_idx);
  });
}

}  // namespace coil::cpu

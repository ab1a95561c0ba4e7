// CPU kernels of the causal depthwise conv: OpenMP over (b, t) rows with channels innermost, and
// a weight/bias gradient reduced in fixed chunks of rows (partial sums in double, then summed in
// chunk order), so the result does not depend on the thread count.
#include <algorithm>
#include <vector>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/conv1d/kernels.h"

namespace coil::cpu {
namespace {

struct Dims {
  int64_t B, L, C, K;
  int64_t rows() const { return B * L; }
};

Dims dims_of(const Tensor& x, const Tensor& weight) {
  return {x.size(0), x.size(1), x.size(2), weight.size(1)};
}

int64_t row_grain(const Dims& d) { return std::max<int64_t>(1, kParallelGrain / (d.C * d.K + 1)); }

template <class T>
void forward_impl(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const Dims d = dims_of(x, weight);
  const T *xp = x.data<T>(), *wp = weight.data<T>();
  const T* bp = bias.defined() ? bias.data<T>() : nullptr;
  T* op = out.data<T>();
  parallel_for(d.rows(), row_grain(d), [&](int64_t r) {
    const int64_t t = r % d.L, k0 = std::max<int64_t>(0, d.K - 1 - t);
    // Row of x at time t - (K-1) + k is r - (K-1) + k; k >= k0 keeps it inside batch b.
    for (int64_t c = 0; c < d.C; ++c) {
      T acc = bp ? bp[c] : T(0);
      for (int64_t k = k0; k < d.K; ++k) acc += wp[c * d.K + k] * xp[(r - (d.K - 1) + k) * d.C + c];
      op[r * d.C + c] = acc;
    }
  });
}

// dx[b, s, c] = sum_k weight[c, k] * grad[b, s + (K-1) - k, c] over times inside [0, L).
template <class T>
void input_grad(const Tensor& dx, const Tensor& grad, const Tensor& weight, const Dims& d) {
  const T *gp = grad.data<T>(), *wp = weight.data<T>();
  T* dxp = dx.data<T>();
  parallel_for(d.rows(), row_grain(d), [&](int64_t r) {
    const int64_t s = r % d.L, k0 = std::max<int64_t>(0, s + d.K - d.L);
    for (int64_t c = 0; c < d.C; ++c) {
      T acc = T(0);
      for (int64_t k = k0; k < d.K; ++k) acc += wp[c * d.K + k] * gp[(r + d.K - 1 - k) * d.C + c];
      dxp[r * d.C + c] = acc;
    }
  });
}

// Slots j < K: dweight[:, j]; slot K: dbias. Chunk sizes depend only on the shape.
template <class T>
void param_grads(const Tensor& dweight, const Tensor& dbias, const Tensor& grad, const Tensor& x,
                 const Dims& d) {
  const int64_t J = d.K + 1, rows = d.rows();
  const int64_t chunk = std::max<int64_t>(64, (rows + 63) / 64);
  const int64_t n_chunks = std::max<int64_t>(1, (rows + chunk - 1) / chunk);
  std::vector<double> partial(size_t(n_chunks * J * d.C), 0.0);  // (chunk, slot, C)
  const T *gp = grad.data<T>(), *xp = x.data<T>();
  parallel_for(n_chunks, 1, [&](int64_t ch) {
    double* part = partial.data() + ch * J * d.C;
    for (int64_t r = ch * chunk; r < std::min(rows, (ch + 1) * chunk); ++r) {
      const int64_t t = r % d.L;
      const T* g = gp + r * d.C;
      for (int64_t j = std::max<int64_t>(0, d.K - 1 - t); j < d.K; ++j) {
        const T* xr = xp + (r - (d.K - 1) + j) * d.C;
        double* pj = part + j * d.C;
        for (int64_t c = 0; c < d.C; ++c) pj[c] += double(g[c]) * double(xr[c]);
      }
      double* pb = part + d.K * d.C;
      for (int64_t c = 0; c < d.C; ++c) pb[c] += double(g[c]);
    }
  });
  T* dw = dweight.defined() ? dweight.data<T>() : nullptr;
  T* db = dbias.defined() ? dbias.data<T>() : nullptr;
  for (int64_t j = 0; j < J; ++j) {
    for (int64_t c = 0; c < d.C; ++c) {
      double acc = 0;
      for (int64_t ch = 0; ch < n_chunks; ++ch) acc += partial[size_t((ch * J + j) * d.C + c)];
      if (j < d.K && dw) dw[c * d.K + j] = T(acc);
      if (j == d.K && db) db[c] = T(acc);
    }
  }
}

}  // namespace

void conv1d_causal_forward(const Tensor& out, const Tensor& x, const Tensor& weight,
                           const Tensor& bias) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "conv1d_causal", [&](auto tag) {
    forward_impl<typename decltype(tag)::type>(out, x, weight, bias);
  });
}

void conv1d_causal_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                            const Tensor& grad, const Tensor& x, const Tensor& weight) {
  const Dims d = dims_of(x, weight);
  dispatch<DType::f32, DType::f64>(x.dtype(), "conv1d_causal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (dx.defined()) input_grad<T>(dx, grad, weight, d);
    if (dweight.defined() || dbias.defined()) param_grads<T>(dweight, dbias, grad, x, d);
  });
}

}  // namespace coil::cpu

// CPU kernels of the causal depthwise conv: OpenMP over (b, t) rows with channels innermost, and
// a weight/bias gradient reduced in fixed chunks of rows (partial sums in double, then summed in
// chunk order), so the result does not depend on the thread count. Resets of packed sequences
// narrow each row's taps (ops/conv1d/reset.h). Also the recurrent step.
#include <algorithm>
#include <vector>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/conv1d/kernels.h"
#include "ops/conv1d/reset.h"

namespace coil::cpu {
namespace {

using conv1d_detail::first_tap;
using conv1d_detail::last_reader;

struct Dims {
  int64_t B, L, C, K;
  int64_t rows() const { return B * L; }
};

Dims dims_of(const Tensor& x, const Tensor& weight) {
  return {x.size(0), x.size(1), x.size(2), weight.size(1)};
}

// reset[b, :] of row r = (b, t), or null.
const bool* reset_row(const bool* reset, const Dims& d, int64_t r) {
  return reset != nullptr ? reset + (r / d.L) * d.L : nullptr;
}

const bool* reset_ptr(const Tensor& reset) {
  return reset.defined() ? reset.data<bool>() : nullptr;
}

int64_t row_grain(const Dims& d) { return std::max<int64_t>(1, kParallelGrain / (d.C * d.K + 1)); }

// weight (C, K) as (K, C): each tap becomes a contiguous channel vector, so the kernels below
// run their channel loops innermost and vectorised (the sums keep their tap order).
template <class T>
std::vector<T> taps_major(const T* w, const Dims& d) {
  std::vector<T> out(size_t(d.K * d.C));
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t k = 0; k < d.K; ++k) out[size_t(k * d.C + c)] = w[c * d.K + k];
  return out;
}

template <class T>
void forward_impl(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const bool* reset) {
  const Dims d = dims_of(x, weight);
  const T* xp = x.data<T>();
  const std::vector<T> wt = taps_major(weight.data<T>(), d);
  const T* bp = bias.defined() ? bias.data<T>() : nullptr;
  T* op = out.data<T>();
  parallel_for(d.rows(), row_grain(d), [&](int64_t r) {
    const int64_t k0 = first_tap(r % d.L, d.K, reset_row(reset, d, r));
    T* o = op + r * d.C;
    for (int64_t c = 0; c < d.C; ++c) o[c] = bp ? bp[c] : T(0);
    // Row of x at time t - (K-1) + k is r - (K-1) + k; k >= k0 keeps it inside t's sequence.
    for (int64_t k = k0; k < d.K; ++k) {
      const T* xr = xp + (r - (d.K - 1) + k) * d.C;
      const T* w = wt.data() + k * d.C;
      for (int64_t c = 0; c < d.C; ++c) o[c] += w[c] * xr[c];
    }
  });
}

// dx[b, s, c] = sum_k weight[c, k] * grad[b, s + (K-1) - k, c] over the output times that read s.
template <class T>
void input_grad(const Tensor& dx, const Tensor& grad, const Tensor& weight, const Dims& d,
                const bool* reset) {
  const T* gp = grad.data<T>();
  const std::vector<T> wt = taps_major(weight.data<T>(), d);
  T* dxp = dx.data<T>();
  parallel_for(d.rows(), row_grain(d), [&](int64_t r) {
    const int64_t s = r % d.L;
    const int64_t k0 = s + d.K - 1 - last_reader(s, d.K, d.L, reset_row(reset, d, r));
    T* o = dxp + r * d.C;
    for (int64_t c = 0; c < d.C; ++c) o[c] = T(0);
    for (int64_t k = k0; k < d.K; ++k) {
      const T* gr = gp + (r + d.K - 1 - k) * d.C;
      const T* w = wt.data() + k * d.C;
      for (int64_t c = 0; c < d.C; ++c) o[c] += w[c] * gr[c];
    }
  });
}

// Slots j < K: dweight[:, j]; slot K: dbias. Chunk sizes depend only on the shape.
template <class T>
void param_grads(const Tensor& dweight, const Tensor& dbias, const Tensor& grad, const Tensor& x,
                 const Dims& d, const bool* reset) {
  const int64_t J = d.K + 1, rows = d.rows();
  const int64_t chunk = std::max<int64_t>(64, (rows + 63) / 64);
  const int64_t n_chunks = std::max<int64_t>(1, (rows + chunk - 1) / chunk);
  std::vector<double> partial(size_t(n_chunks * J * d.C), 0.0);  // (chunk, slot, C)
  const T *gp = grad.data<T>(), *xp = x.data<T>();
  parallel_for(n_chunks, 1, [&](int64_t ch) {
    double* part = partial.data() + ch * J * d.C;
    for (int64_t r = ch * chunk; r < std::min(rows, (ch + 1) * chunk); ++r) {
      const T* g = gp + r * d.C;
      for (int64_t j = first_tap(r % d.L, d.K, reset_row(reset, d, r)); j < d.K; ++j) {
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

template <class T>
void step_impl(const Tensor& y, const Tensor& state, const Tensor& x, const Tensor& weight,
               const Tensor& bias) {
  const int64_t rows = state.size(0) * state.size(1), C = state.size(1), K = state.size(2);
  T* sp = state.data<T>();
  T* yp = y.data<T>();
  const T *xp = x.data<T>(), *wp = weight.data<T>();
  const T* bp = bias.defined() ? bias.data<T>() : nullptr;
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / (K + 1)), [&](int64_t r) {
    const int64_t c = r % C;
    T* s = sp + r * K;
    for (int64_t k = 0; k + 1 < K; ++k) s[k] = s[k + 1];
    s[K - 1] = xp[r];
    T acc = bp ? bp[c] : T(0);
    for (int64_t k = 0; k < K; ++k) acc += wp[c * K + k] * s[k];
    yp[r] = acc;
  });
}

}  // namespace

void conv1d_causal_forward(const Tensor& out, const Tensor& x, const Tensor& weight,
                           const Tensor& bias, const Tensor& reset) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "conv1d_causal", [&](auto tag) {
    forward_impl<typename decltype(tag)::type>(out, x, weight, bias, reset_ptr(reset));
  });
}

void conv1d_causal_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                            const Tensor& grad, const Tensor& x, const Tensor& weight,
                            const Tensor& reset) {
  const Dims d = dims_of(x, weight);
  dispatch<DType::f32, DType::f64>(x.dtype(), "conv1d_causal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (dx.defined()) input_grad<T>(dx, grad, weight, d, reset_ptr(reset));
    if (dweight.defined() || dbias.defined())
      param_grads<T>(dweight, dbias, grad, x, d, reset_ptr(reset));
  });
}

void conv1d_causal_step(const Tensor& y, const Tensor& state, const Tensor& x, const Tensor& weight,
                        const Tensor& bias) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "conv1d_causal_step", [&](auto tag) {
    step_impl<typename decltype(tag)::type>(y, state, x, weight, bias);
  });
}

}  // namespace coil::cpu

// CPU kernels of the selective scan: the forward, the recurrent step and the device entry points
// (the backward is in cpu_backward.cpp, the shared tiling and helpers in cpu_scan.h). Work is split
// into units of (batch row, channel tile); the state of a tile lives in N vectors on the stack and
// is stored only every kChunk steps (checkpoints for the backward).
#include "core/dispatch.h"
#include "ops/selective_scan/cpu_scan.h"

// Vectors pass between always-inlined helpers only; the vector-argument ABI never applies.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace coil::cpu {
namespace {
using namespace scan_detail;
using scan_math::exp_;
using scan_math::sigmoid_;
using scan_math::softplus_;

// ---- forward ---------------------------------------------------------------------------------

template <class T>
struct Forward : Scan<T> {
  T *out, *final_state, *ckpt, *ckpt_y;  // ckpt_y: y before the z gate, or null
  Forward(const SelectiveScanParams& p, T* out_, T* fs, T* ck)
      : Scan<T>(p),
        out(out_),
        final_state(fs),
        ckpt(ck),
        ckpt_y(ck != nullptr && p.z != nullptr ? ck + checkpoint_states<T>(p) : nullptr) {}
  int64_t units() const { return this->p.batch * this->tiling.count(); }
};

// Steps [t0, t0 + steps) of one tile; h carries the state. y is summed in two halves (even and
// odd n), so its FMA chain is half as long.
template <class T, int kN, bool kClamp>
COIL_SCAN_INLINE void forward_chunk(const Forward<T>& f, const TileParams<T>& tp,
                                    const Steps<T>& st, const V<T>* gate, V<T>* h, int64_t b,
                                    int64_t t0, int64_t steps, int64_t c0, int64_t w, int64_t g) {
  const SelectiveScanParams& p = f.p;
  const int64_t N = kN > 0 ? kN : p.state;
  V<T> a[kMaxN];
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = t0 + i;
    if (f.reset_at(b, t))
      for (int64_t n = 0; n < N; ++n) h[n] = V<T>{};
    const T *Bt = f.B_at(b, t, g), *Ct = f.C_at(b, t, g);
    decays<T, kN, kClamp>(a, st.dt[i], tp, N);
    const V<T> du = st.du[i];
    V<T> y0 = tp.D * st.u[i], y1{};
    int64_t n = 0;
    for (; n + 2 <= N; n += 2) {
      h[n] = a[n] * h[n] + du * Bt[n];
      h[n + 1] = a[n + 1] * h[n + 1] + du * Bt[n + 1];
      y0 += h[n] * Ct[n];
      y1 += h[n + 1] * Ct[n + 1];
    }
    if (n < N) {
      h[n] = a[n] * h[n] + du * Bt[n];
      y0 += h[n] * Ct[n];
    }
    const V<T> y = y0 + y1;
    const int64_t row = (b * p.length + t) * p.channels + c0;
    if (f.z != nullptr) {
      if (f.ckpt_y != nullptr) scan_math::store(f.ckpt_y + row, y, w);
      scan_math::store(f.out + row, y * gate[i], w);
    } else {
      scan_math::store(f.out + row, y, w);
    }
  }
}

// One (batch row, tile) over the whole sequence, chunk by chunk. kN > 0: N known at compile time
// (the loops over the state unroll); 0: N = p.state.
template <class T, int kN>
COIL_SCAN_INLINE void forward_unit(const Forward<T>& f, int64_t unit) {
  const SelectiveScanParams& p = f.p;
  const int64_t N = kN > 0 ? kN : p.state, L = p.length, Dch = p.channels, nch = num_chunks(L);
  const int64_t b = unit / f.tiling.count(), j = unit % f.tiling.count();
  const int64_t c0 = f.tiling.first(j), w = f.tiling.width(j), g = f.tiling.group(j);
  const TileParams<T> tp = f.params[j];
  V<T> h[kMaxN], gate[kChunk];
  load_state<T>(h, f.s0 ? f.s0 + (b * Dch + c0) * N : nullptr, w, N);
  for (int64_t k = 0; k < nch; ++k) {
    const int64_t t0 = k * kChunk, steps = std::min(kChunk, L - t0);
    if (f.ckpt != nullptr) std::memcpy(f.ckpt + f.ckpt_at(b, k, j), h, size_t(N) * sizeof(V<T>));
    const Steps<T> st(f, tp, b, t0, steps, c0, w, false);
    if (f.z != nullptr) {
      for (int64_t i = 0; i < steps; ++i) {
        const V<T> z = scan_math::load(f.z + b * p.z_sb + (t0 + i) * p.z_st + c0, w);
        gate[i] = z * sigmoid_(z);
      }
    }
    if (st.in_range) {  // the usual case: no clamps in the exps
      forward_chunk<T, kN, false>(f, tp, st, gate, h, b, t0, steps, c0, w, g);
    } else {
      forward_chunk<T, kN, true>(f, tp, st, gate, h, b, t0, steps, c0, w, g);
    }
  }
  store_state<T>(f.final_state + (b * Dch + c0) * N, h, w, N);
}

COIL_SCAN_CLONES void run_forward_unit(const Forward<float>& f, int64_t unit) {
  if (f.p.state == 16) {
    forward_unit<float, 16>(f, unit);
  } else {
    forward_unit<float, 0>(f, unit);
  }
}
COIL_SCAN_CLONES void run_forward_unit(const Forward<double>& f, int64_t unit) {
  forward_unit<double, 0>(f, unit);
}

// ---- step ------------------------------------------------------------------------------------

template <class T>
void step_impl(const Tensor& y, const Tensor& state, const Tensor& u, const Tensor& delta,
               const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D, const Tensor& z,
               const Tensor& bias, bool softplus) {
  const int64_t Bt = state.size(0), Dch = state.size(1), N = state.size(2), G = B.size(1);
  const int64_t per_group = Dch / G;
  T* sp = state.data<T>();
  T* yp = y.data<T>();
  const T *up = u.data<T>(), *dp = delta.data<T>(), *Ap = A.data<T>(), *Bp = B.data<T>(),
          *Cp = C.data<T>();
  const T* Dp = D.defined() ? D.data<T>() : nullptr;
  const T* zp = z.defined() ? z.data<T>() : nullptr;
  const T* bp = bias.defined() ? bias.data<T>() : nullptr;
#pragma omp parallel for schedule(static) if (Bt * Dch * N > (int64_t(1) << 15))
  for (int64_t r = 0; r < Bt * Dch; ++r) {
    const int64_t b = r / Dch, d = r % Dch, g = d / per_group;
    const T x = dp[r] + (bp ? bp[d] : T(0));
    const T dt = softplus ? softplus_(x) : x, du = dt * up[r];
    T* s = sp + r * N;
    const T *Bn = Bp + (b * G + g) * N, *Cn = Cp + (b * G + g) * N;
    T acc = T(0);
    for (int64_t n = 0; n < N; ++n) {
      s[n] = exp_(dt * Ap[d * N + n]) * s[n] + du * Bn[n];
      acc += s[n] * Cn[n];
    }
    T out = acc + (Dp ? Dp[d] : T(0)) * up[r];
    if (zp) out *= zp[r] * sigmoid_(zp[r]);
    yp[r] = out;
  }
}

}  // namespace

void selective_scan_forward(const SelectiveScanParams& p, const Tensor& out,
                            const Tensor& final_state, Tensor* checkpoints) {
  dispatch<DType::f32, DType::f64>(p.dtype, "selective_scan", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (checkpoints != nullptr)
      *checkpoints = empty({checkpoint_size<T>(p)}, {p.param_dtype, p.device});
    const Forward<T> f(p, out.data<T>(), final_state.data<T>(),
                       checkpoints ? checkpoints->data<T>() : nullptr);
    const int64_t units = f.units();
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(p))
    for (int64_t unit = 0; unit < units; ++unit) run_forward_unit(f, unit);
  });
}

void selective_scan_step(const Tensor& y, const Tensor& state, const Tensor& u, const Tensor& delta,
                         const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                         const Tensor& z, const Tensor& delta_bias, bool delta_softplus) {
  dispatch<DType::f32, DType::f64>(u.dtype(), "selective_scan_step", [&](auto tag) {
    step_impl<typename decltype(tag)::type>(y, state, u, delta, A, B, C, D, z, delta_bias,
                                            delta_softplus);
  });
}

}  // namespace coil::cpu

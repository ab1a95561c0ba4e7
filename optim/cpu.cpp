// CPU multi-tensor kernels: one OpenMP loop over the fixed-size chunks of every tensor. The norm
// sums each chunk in double (8 interleaved partial sums, so the loop is not one long dependency
// chain) and then adds the chunk sums in chunk order: the result does not depend on threads.
#include <omp.h>

#include <cmath>
#include <vector>

#include "core/dispatch.h"
#include "optim/kernels.h"

namespace coil::cpu {
namespace {

using optim::kChunk;

struct Chunk {
  int64_t tensor, begin, end;
};

template <class List>
std::vector<Chunk> chunks_of(const List& list) {
  std::vector<Chunk> out;
  for (int64_t t = 0; t < int64_t(list.size()); ++t)
    for (int64_t b = 0; b < list[size_t(t)].numel; b += kChunk)
      out.push_back({t, b, std::min(b + kChunk, list[size_t(t)].numel)});
  return out;
}

template <class T>
void update_impl(optim::Algorithm algorithm, const std::vector<optim::TensorUpdate>& list) {
  const std::vector<Chunk> chunks = chunks_of(list);
#pragma omp parallel for schedule(static) if (chunks.size() > 1)
  for (int64_t c = 0; c < int64_t(chunks.size()); ++c) {
    const Chunk ch = chunks[size_t(c)];
    const optim::TensorUpdate& u = list[size_t(ch.tensor)];
    const optim::Coeffs<T> k = optim::make_coeffs<T>(algorithm, u.s);
    T* p = static_cast<T*>(u.param);
    const T* g = static_cast<const T*>(u.grad);
    T* b1 = static_cast<T*>(u.buf1);
    T* b2 = static_cast<T*>(u.buf2);
    if (algorithm == optim::Algorithm::sgd) {
      T unused = T(0);
      for (int64_t i = ch.begin; i < ch.end; ++i)
        optim::sgd_element<T>(k, p[i], g[i], b1 ? b1[i] : unused);
    } else {
      for (int64_t i = ch.begin; i < ch.end; ++i)
        optim::adam_element<T>(k, p[i], g[i], b1[i], b2[i]);
    }
  }
}

template <class T>
double sum_squares(const T* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(x[i + j]) * double(x[i + j]);
  for (; i < n; ++i) acc[0] += double(x[i]) * double(x[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

void optim_update(DType dtype, Device, optim::Algorithm algorithm,
                  const std::vector<optim::TensorUpdate>& list, const int64_t* skip) {
  if (skip && *skip != 0) return;
  dispatch<DType::f32, DType::f64>(dtype, "Optimizer", [&](auto tag) {
    update_impl<typename decltype(tag)::type>(algorithm, list);
  });
}

void optim_global_norm(DType dtype, Device, const std::vector<optim::TensorSpan>& list,
                       const Tensor& out, const Tensor& first_bad) {
  dispatch<DType::f32, DType::f64>(dtype, "clip_grad_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const std::vector<Chunk> chunks = chunks_of(list);
    std::vector<double> partial(chunks.size());
#pragma omp parallel for schedule(static) if (chunks.size() > 1)
    for (int64_t c = 0; c < int64_t(chunks.size()); ++c) {
      const Chunk ch = chunks[size_t(c)];
      partial[size_t(c)] = sum_squares(
          static_cast<const T*>(list[size_t(ch.tensor)].data) + ch.begin, ch.end - ch.begin);
    }
    double total = 0;
    for (double s : partial) total += s;
    *out.data<T>() = T(std::sqrt(total));
    if (!first_bad.defined()) return;
    // A chunk's sum of squares (in double) is non-finite exactly when it holds a NaN or Inf.
    int64_t bad = -1;
    for (size_t c = 0; c < chunks.size() && bad < 0; ++c)
      if (!optim::is_finite(partial[c])) bad = list[size_t(chunks[c].tensor)].index;
    *first_bad.data<int64_t>() = bad;
  });
}

void optim_record_nonfinite(Device, const Tensor& flag, const Tensor& loss, const Tensor& norm,
                            const Tensor& first_bad, int64_t step) {
  auto value = [](const Tensor& t) {
    return t.dtype() == DType::f64 ? *t.data<double>() : double(*t.data<float>());
  };
  optim::record_nonfinite_step(flag.data<int64_t>(), value(loss), value(norm),
                               first_bad.defined() ? *first_bad.data<int64_t>() : -1, step);
}

void optim_clip(DType dtype, Device, const std::vector<optim::TensorSpan>& list, const Tensor& norm,
                double max_norm) {
  dispatch<DType::f32, DType::f64>(dtype, "clip_grad_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T coef = optim::clip_coefficient<T>(*norm.data<T>(), max_norm);
    if (coef == T(1)) return;  // multiplying by 1 changes nothing
    const std::vector<Chunk> chunks = chunks_of(list);
#pragma omp parallel for schedule(static) if (chunks.size() > 1)
    for (int64_t c = 0; c < int64_t(chunks.size()); ++c) {
      const Chunk ch = chunks[size_t(c)];
      T* x = static_cast<T*>(list[size_t(ch.tensor)].data);
      for (int64_t i = ch.begin; i < ch.end; ++i) x[i] *= coef;
    }
  });
}

}  // namespace coil::cpu

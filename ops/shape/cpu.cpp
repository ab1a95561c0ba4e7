// CPU kernels of the shape family: flip as a strided gather, cumsum as one sequential scan per
// line (OpenMP over independent lines), so results never depend on the thread count.
#include <algorithm>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "core/elementwise_math.h"
#include "ops/shape/kernels.h"

namespace coil::cpu {
namespace {

// Elements move as raw words of their size: flip never looks at values.
template <class Word>
void flip_words(const StridedLoop<2>& L) {
  Word* out = reinterpret_cast<Word*>(L.data[0]);
  const Word* in = reinterpret_cast<const Word*>(L.data[1]);
  for_each_element<2>(L, [&](const int64_t* off) { out[off[0]] = in[off[1]]; });
}

// Columns of a (outer, len, inner) block scanned together, kCols at a time, so each step along
// the line reads a short contiguous run instead of one element per cache line.
constexpr int64_t kCols = 64;

template <class T>
void cumsum_typed(T* out, const T* in, int64_t outer, int64_t len, int64_t inner, bool reverse) {
  using C = compute_t<T>;
  int64_t col_blocks = (inner + kCols - 1) / kCols;
  int64_t tasks = outer * col_blocks;
  int64_t work_per_task = len * std::min(inner, kCols);
  int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, work_per_task));
  parallel_for(tasks, grain, [&](int64_t task) {
    int64_t o = task / col_blocks, c0 = (task % col_blocks) * kCols;
    int64_t cols = std::min(kCols, inner - c0);
    C acc[kCols];
    for (int64_t c = 0; c < cols; ++c) acc[c] = C(0);
    const T* src = in + o * len * inner + c0;
    T* dst = out + o * len * inner + c0;
    for (int64_t step = 0; step < len; ++step) {
      int64_t l = reverse ? len - 1 - step : step;
      for (int64_t c = 0; c < cols; ++c) {
        acc[c] += C(src[l * inner + c]);
        dst[l * inner + c] = T(acc[c]);
      }
    }
  });
}

}  // namespace

void flip(const Tensor& out, const Tensor& in, uint32_t flip_mask) {
  StridedLoop<2> L = flip_loop(out, in, flip_mask);
  switch (out.itemsize()) {
    case 1:
      return flip_words<uint8_t>(L);
    case 2:
      return flip_words<uint16_t>(L);
    case 4:
      return flip_words<uint32_t>(L);
    case 8:
      return flip_words<uint64_t>(L);
    default:
      COIL_FAIL("[flip] unsupported element size {}", out.itemsize());
  }
}

void cumsum(const Tensor& out, const Tensor& in, int64_t outer, int64_t len, int64_t inner,
            bool reverse) {
  dispatch<DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64>(
      in.dtype(), "cumsum", [&](auto tag) {
        using T = typename decltype(tag)::type;
        cumsum_typed<T>(out.data<T>(), in.data<T>(), outer, len, inner, reverse);
      });
}

}  // namespace coil::cpu

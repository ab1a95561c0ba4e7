// CUDA random fills from the Philox stream (built with -fmad=false: see CMakeLists.txt), bitwise
// equal to the CPU fills.
#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/kernels.h"
#include "core/random_transform.h"

namespace coil::cuda {
namespace {

template <class T>
void random_impl(const StridedLoop<1>& L, int dev, uint64_t seed, uint64_t offset, int kind,
                 double lo, double hi) {
  T* o = reinterpret_cast<T*>(L.data[0]);
  launch_strided<1>(L, dev, [=] __device__(const int64_t* off) {
    o[off[0]] = random_value<T>(seed, offset, uint64_t(off[0]), kind, lo, hi);
  });
}

}  // namespace

void random(const Tensor& out, uint64_t seed, uint64_t offset, int kind, double lo, double hi) {
  auto L = make_strided_loop<1>({&out}, "random");
  int dev = out.device().index;
  DeviceGuard guard(dev);
  dispatch<COIL_NUMERIC_DTYPES>(out.dtype(), "random", [&](auto tag) {
    random_impl<typename decltype(tag)::type>(L, dev, seed, offset, kind, lo, hi);
  });
}

}  // namespace coil::cuda

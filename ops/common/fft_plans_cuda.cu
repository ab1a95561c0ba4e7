// The cuFFT plan cache behind ops/common/fft_plans_cuda.cuh. cuFFT's own work-area allocation is
// off (cufftSetAutoAllocation(0)); each execution borrows a Storage from the pool, sized by the
// plan, and frees it stream-ordered after the launch.
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "core/cuda/context.h"
#include "core/storage.h"
#include "ops/common/fft_plans_cuda.cuh"

namespace coil::cuda::fft {
namespace {

struct Plan {
  cufftHandle handle = 0;
  size_t work_bytes = 0;
  std::mutex mu;  // stream and work area are plan state: one execution at a time sets them
  ~Plan() { cufftDestroy(handle); }
};

auto tie(const PlanKey& k) {
  return std::tie(k.n, k.batch, k.istride, k.idist, k.ostride, k.odist, k.type, k.device);
}
struct Less {
  bool operator()(const PlanKey& a, const PlanKey& b) const { return tie(a) < tie(b); }
};

struct Cache {
  std::mutex mu;
  std::map<PlanKey, std::unique_ptr<Plan>, Less> plans;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: plans may outlive the CUDA context at exit
  return *c;
}

bool is_r2c(cufftType t) { return t == CUFFT_R2C || t == CUFFT_D2Z; }
bool is_c2r(cufftType t) { return t == CUFFT_C2R || t == CUFFT_Z2D; }

Plan& get_plan(const PlanKey& k) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto& slot = c.plans[k];
  if (slot) return *slot;
  COIL_CHECK(k.n >= 1 && k.batch >= 1, "[fft] bad cuFFT plan: size {}, batch {}", k.n, k.batch);
  DeviceGuard guard(k.device);
  auto p = std::make_unique<Plan>();
  COIL_CUFFT_CHECK(cufftCreate(&p->handle));
  COIL_CUFFT_CHECK(cufftSetAutoAllocation(p->handle, 0));
  // For rank 1 the embed arrays only switch the advanced layout on; their values are unused.
  long long n = k.n;
  long long in_embed = is_c2r(k.type) ? k.n / 2 + 1 : k.n;
  long long out_embed = is_r2c(k.type) ? k.n / 2 + 1 : k.n;
  COIL_CUFFT_CHECK(cufftMakePlanMany64(p->handle, 1, &n, &in_embed, k.istride, k.idist, &out_embed,
                                       k.ostride, k.odist, k.type, k.batch, &p->work_bytes));
  slot = std::move(p);
  return *slot;
}

}  // namespace

void execute(const PlanKey& key, void* in, void* out, int direction) {
  Plan& p = get_plan(key);
  DeviceGuard guard(key.device);
  Storage work(std::max<size_t>(p.work_bytes, 1), Device::cuda(key.device));
  std::lock_guard<std::mutex> lock(p.mu);
  COIL_CUFFT_CHECK(cufftSetStream(p.handle, stream(key.device)));
  COIL_CUFFT_CHECK(cufftSetWorkArea(p.handle, work.data()));
  switch (key.type) {
    case CUFFT_R2C:
      COIL_CUFFT_CHECK(cufftExecR2C(p.handle, (cufftReal*)in, (cufftComplex*)out));
      break;
    case CUFFT_D2Z:
      COIL_CUFFT_CHECK(cufftExecD2Z(p.handle, (cufftDoubleReal*)in, (cufftDoubleComplex*)out));
      break;
    case CUFFT_C2R:
      COIL_CUFFT_CHECK(cufftExecC2R(p.handle, (cufftComplex*)in, (cufftReal*)out));
      break;
    case CUFFT_Z2D:
      COIL_CUFFT_CHECK(cufftExecZ2D(p.handle, (cufftDoubleComplex*)in, (cufftDoubleReal*)out));
      break;
    case CUFFT_C2C:
      COIL_CUFFT_CHECK(cufftExecC2C(p.handle, (cufftComplex*)in, (cufftComplex*)out, direction));
      break;
    case CUFFT_Z2Z:
      COIL_CUFFT_CHECK(
          cufftExecZ2Z(p.handle, (cufftDoubleComplex*)in, (cufftDoubleComplex*)out, direction));
      break;
  }
  // `work` is freed here, stream-ordered after the transform.
}

}  // namespace coil::cuda::fft

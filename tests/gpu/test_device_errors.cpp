// Errors found by CUDA kernels wait for the next host synchronisation (core/cuda/device_error.h):
// cross_entropy and embedding with a bad target or index neither make the host wait nor read out
// of bounds, and the next copy to the host throws naming the value, its position and the size;
// and a full training step of the model bench's row-3 Mamba LM makes the host wait nowhere.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>

#include "autograd/autograd.h"
#include "core/backend.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "nn/model.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "ops/embedding/embedding.h"
#include "ops/linalg/linalg.h"
#include "ops/shape/shape.h"
#include "optim/clip.h"
#include "optim/nonfinite.h"
#include "optim/optimizer.h"
#include "tests/support/checks.h"
#include "tests/support/compare.h"
#include "train/setup.h"

using namespace coil;
using namespace coil::testing;

namespace {

constexpr const char* kDeferred =
    "(found by a CUDA kernel; reported at the next host synchronisation)";

// core/backend.h's CUDA functions; COIL_CUDA_ONLY keeps a CPU-only build of this file linking.
uint64_t host_syncs() {
  uint64_t n = 0;
  COIL_CUDA_ONLY("test", n = cuda::host_sync_count());
  return n;
}
void synchronize() { COIL_CUDA_ONLY("test", cuda::synchronize(0)); }

// f32 on cuda:0, a fresh leaf that requires grad.
Tensor cuda_leaf(const Tensor& t) {
  Tensor x = core::to(core::to(t, DType::f32), Device::cuda());
  set_requires_grad(x);
  return x;
}

Tensor cuda_indices(const std::vector<int64_t>& v, const Shape& shape, DType dtype) {
  return core::to(core::to(from_vector(v, shape), dtype), Device::cuda());
}

}  // namespace

TEST_CASE(
    "cross_entropy on CUDA neither throws nor waits on an out-of-range target: the next copy to "
    "the host throws naming it, the row's loss is NaN and its gradient zero") {
  constexpr int64_t N = 9, kBad = 5;
  // C = 37: a warp per row; C = 1100: a block per row.
  for (int64_t C : {37, 1100}) {
    for (DType tdt : {DType::i64, DType::i32}) {
      for (int64_t bad : {C, C + 1000, int64_t(-1), int64_t(-7)}) {
        CAPTURE(C);
        const std::string tdt_name(dtype_name(tdt));
        CAPTURE(tdt_name);
        CAPTURE(bad);
        Generator g(uint64_t(C + bad + 1000));
        std::vector<int64_t> t = randint(0, C, {N}, {DType::i64}, &g).to_vector<int64_t>();
        t[2] = -100;  // an ignored row beside the bad one
        std::vector<int64_t> t_ref = t;
        t[kBad] = bad;
        t_ref[kBad] = -100;  // the reference: the bad row contributes nothing
        const Tensor x64 = randn({N, C}, {DType::f64}, &g), v64 = randn({N}, {DType::f64}, &g);

        Tensor x = cuda_leaf(x64);
        const uint64_t syncs = host_syncs();
        Tensor loss = cross_entropy(x, cuda_indices(t, {N}, tdt), {.reduction = Reduction::none});
        backward(loss, core::to(core::to(v64, DType::f32), Device::cuda()));
        CHECK(host_syncs() == syncs);

        const std::string msg = error_of([&] { host_values(loss); });
        INFO(msg);
        CHECK(contains(msg, fmt::format("[cross_entropy] target {} at flat position {} is out of "
                                        "range for {} classes (and is not ignore_index -100)",
                                        bad, kBad, C)));
        CHECK(contains(msg, fmt::format("logits ({}, {})", N, C)));
        CHECK(contains(msg, kDeferred));

        // The record is clear again: the same copy now succeeds and shows what the kernels did.
        Tensor xr = detach(x64);
        set_requires_grad(xr);
        Tensor ref = cross_entropy(xr, from_vector(t_ref), {.reduction = Reduction::none});
        backward(ref, v64);
        std::vector<double> got = host_values(loss), want = host_values(ref);
        CHECK(std::isnan(got[kBad]));
        for (int64_t r = 0; r < N; ++r)
          if (r != kBad)
            CHECK(std::abs(got[size_t(r)] - want[size_t(r)]) <=
                  1e-5 * (1 + std::abs(want[size_t(r)])));
        CHECK(rel_error(grad(x), grad(xr)) <= 1e-5);  // the bad row's gradient is zero in both

        // A mean over a bad row is NaN; its error surfaces at item(), once.
        Tensor mean = cross_entropy(detach(x), cuda_indices(t, {N}, tdt));
        CHECK(contains(error_of([&] { mean.item<float>(); }), "out of range"));
        CHECK(std::isnan(mean.item<float>()));
        // And a correct call afterwards works.
        Tensor ok = cross_entropy(detach(x), cuda_indices(t_ref, {N}, tdt));
        CHECK(std::abs(ok.item<double>() - cross_entropy(x64, from_vector(t_ref)).item<double>()) <=
              1e-5);
      }
    }
  }
}

TEST_CASE(
    "embedding on CUDA neither throws nor waits on an out-of-range index: the next copy to the "
    "host throws naming it, its output row is NaN and the other rows' gradients are exact") {
  // V = 16, a power of two: a bad index's sort key V needs one more bit than the good keys.
  // D = 8 takes the vectorised gather, D = 5 the scalar one.
  constexpr int64_t V = 16, kBad = 61;
  const Shape ishape = {7, 19};
  const int64_t n = shape_numel(ishape);
  for (int64_t D : {8, 5}) {
    for (DType idt : {DType::i64, DType::i32}) {
      for (int64_t bad : {V, V + 1000, int64_t(-1), -V}) {
        CAPTURE(D);
        const std::string idt_name(dtype_name(idt));
        CAPTURE(idt_name);
        CAPTURE(bad);
        Generator g(uint64_t(D * 1000 + bad + 5000));
        std::vector<int64_t> idx = randint(0, V, ishape, {DType::i64}, &g).to_vector<int64_t>();
        idx[kBad] = bad;
        const Tensor w64 = randn({V, D}, {DType::f64}, &g);
        const Tensor v64 = randn({ishape[0], ishape[1], D}, {DType::f64}, &g);

        Tensor w = cuda_leaf(w64);
        const uint64_t syncs = host_syncs();
        Tensor out = embedding(w, cuda_indices(idx, ishape, idt));
        backward(out, core::to(core::to(v64, DType::f32), Device::cuda()));
        CHECK(host_syncs() == syncs);

        const std::string msg = error_of([&] { host_values(out); });
        INFO(msg);
        CHECK(contains(msg, fmt::format("[embedding] index {} at position {} is outside [0, {}): "
                                        "weight ({}, {})",
                                        bad, kBad, V, V, D)));
        CHECK(contains(msg, kDeferred));

        const std::vector<double> got = host_values(out), wv = w64.to_vector<double>(),
                                  gv = v64.to_vector<double>();
        std::vector<double> dw_ref(size_t(V * D), 0.0);
        for (int64_t p = 0; p < n; ++p) {
          for (int64_t d = 0; d < D; ++d) {
            const double o = got[size_t(p * D + d)];
            if (p == kBad) {
              CHECK(std::isnan(o));
              continue;
            }
            CHECK(o == double(float(wv[size_t(idx[size_t(p)] * D + d)])));
            dw_ref[size_t(idx[size_t(p)] * D + d)] += gv[size_t(p * D + d)];
          }
        }
        const std::vector<double> dw = host_values(grad(w));
        double err = 0;
        for (size_t i = 0; i < dw.size(); ++i) err = std::max(err, std::abs(dw[i] - dw_ref[i]));
        CHECK(err <= 1e-5);
      }
    }
  }
}

TEST_CASE(
    "a full CUDA training step of the row-3 Mamba LM (forward, cross_entropy, backward, "
    "clipping, non-finite flag, AdamW, zero_grad) makes the host wait nowhere") {
  nn::ModelOptions o;  // bench/bench_models.cpp row 3: 2 layers x d 64, vocab 16, B 64, L 256
  o.layer = "mamba";
  o.n_layer = 2;
  o.d_model = 64;
  o.vocab_size = 16;
  manual_seed(0);
  auto model = nn::make_model(o);
  model->to(Device::cuda());
  optim::Hyper hyper;
  hyper.lr = 1e-3;
  hyper.weight_decay = 0.1;
  optim::Optimizer opt(optim::Algorithm::adamw, train::param_groups(*model, 0.1), hyper);
  const std::vector<Tensor> params = opt.params();
  const Tensor ids = core::to(randint(0, o.vocab_size, {64, 257}), Device::cuda());
  const Tensor input = narrow(ids, 1, 0, 256), target = narrow(ids, 1, 1, 256);
  const Tensor flag = optim::nonfinite_flag(Device::cuda());
  int64_t step = 0;
  bool checked = false;  // after warm-up: each phase on its own, so a failure names the phase
  auto phase = [&](const char* name, const auto& run) {
    const uint64_t before = host_syncs();
    run();
    if (!checked) return;
    INFO(name);
    CHECK(host_syncs() == before);
  };
  // The trainer's step (train/trainer.cpp) without its loader and logging.
  auto train_step = [&] {
    Tensor logits, loss, first_bad, norm;
    phase("forward", [&] { logits = model->forward(input); });
    phase("cross_entropy", [&] { loss = cross_entropy(logits, target); });
    phase("backward", [&] { backward(loss); });
    phase("clip_grad_norm_", [&] { norm = optim::clip_grad_norm_(params, 1.0, &first_bad); });
    phase("record_nonfinite",
          [&] { optim::record_nonfinite(flag, loss, norm, first_bad, ++step); });
    phase("AdamW step", [&] { opt.step(flag); });
    phase("zero_grad", [&] { opt.zero_grad(); });
    return loss;
  };
  train_step();  // warm-up: first-use allocations, plans and registrations
  train_step();
  synchronize();

  checked = true;
  const uint64_t syncs = host_syncs();
  Tensor loss;
  for (int s = 0; s < 3; ++s) loss = train_step();
  CHECK(host_syncs() == syncs);
  checked = false;

  // The counter sees only core's waits; the driver can wait on its own (a pageable copy, an
  // allocation). So queue about half a second of GEMMs first: a step that waits anywhere
  // cannot be queued before they finish. One step only: a long enough queue of launches
  // would block the host by itself (hence large GEMMs, each one launch).
  using Clock = std::chrono::steady_clock;
  const Tensor a = randn({8192, 8192}, {DType::f32, Device::cuda()});
  auto secs = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  matmul(a, a);  // cuBLAS's first call sets up
  synchronize();
  auto t0 = Clock::now();
  matmul(a, a);
  synchronize();
  const int gemms = int(std::ceil(0.5 / std::max(secs(t0), 1e-4)));
  t0 = Clock::now();
  for (int i = 0; i < gemms; ++i) matmul(a, a);
  loss = train_step();
  const double queued = secs(t0);
  synchronize();
  const double total = secs(t0);
  MESSAGE(gemms << " GEMMs and a step queued in " << queued * 1e3 << " ms, done after "
                << total * 1e3 << " ms");
  CHECK(queued < 0.5 * total);

  // The steps trained: finite loss, clean non-finite flag.
  CHECK(std::isfinite(loss.item<float>()));
  CHECK(optim::decode_nonfinite(flag.to_vector<int64_t>().data()).step == 0);
}

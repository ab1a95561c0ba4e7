// The loader on CUDA: batches uploaded from page-locked buffers on the copy stream equal the
// CPU collation, over enough batches that every staging buffer is recycled many times (and
// grows), while the compute stream works on earlier batches; a moved cursor and a destroyed
// loader with uploads in flight are safe.
#include <doctest/doctest.h>

#include "core/copy.h"
#include "core/error.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "ops/elementwise/elementwise.h"

using namespace coil;
using namespace coil::data;

namespace {

// Finite dataset whose lengths vary (1 .. 97) so batches differ in width and staging grows.
class VaryingDataset : public Dataset {
 public:
  int64_t size() const override { return 1000; }
  void get(int64_t i, Example& ex) const override {
    const int64_t len = 1 + (i * 37) % 97;
    ex.input.resize(size_t(len));
    ex.target.resize(size_t(len));
    for (int64_t t = 0; t < len; ++t) {
      ex.input[size_t(t)] = int32_t((i + t) % 50);
      ex.target[size_t(t)] = int32_t((i * 3 + t) % 50);
    }
  }
  int64_t vocab_size() const override { return 50; }
  int64_t num_classes() const override { return 50; }
  int64_t max_len() const override { return 97; }
  std::string name() const override { return "varying"; }
};

template <class T>
void check_same(const Tensor& gpu, const Tensor& cpu, const char* what, int64_t k) {
  INFO(what << " of batch " << k);
  REQUIRE(gpu.device().is_cuda());
  REQUIRE(gpu.shape() == cpu.shape());
  CHECK(core::to(gpu, Device::cpu()).to_vector<T>() == cpu.to_vector<T>());
}

// Reads `batches` batches from a CUDA loader (prefetch 2: 3 staging slots) and the same from a
// CPU loader, keeping every device batch alive and queueing device work on each before any is
// read back, so the uploads really overlap compute.
void compare(std::shared_ptr<const Dataset> ds, LoaderOptions o, int64_t batches,
             int64_t cursor_jump_at) {
  LoaderOptions g = o, c = o;
  g.device = Device::cuda();
  g.prefetch = 2;
  c.prefetch = 0;
  Loader gpu(ds, g), cpu(ds, c);
  std::vector<Batch> got, want;
  std::vector<Tensor> doubled;
  for (int64_t k = 0; k < batches; ++k) {
    if (k == cursor_jump_at) {
      LoaderCursor at{3, 5};
      gpu.set_cursor(at);
      cpu.set_cursor(at);
    }
    got.push_back(gpu.next());
    want.push_back(cpu.next());
    doubled.push_back(add(got.back().input, got.back().input));
  }
  for (int64_t k = 0; k < batches; ++k) {
    const Batch &a = got[size_t(k)], &b = want[size_t(k)];
    check_same<int64_t>(a.input, b.input, "input", k);
    check_same<int64_t>(a.target, b.target, "target", k);
    check_same<float>(a.mask, b.mask, "mask", k);
    check_same<int64_t>(a.lengths, b.lengths, "lengths", k);
    CHECK(a.tokens == b.tokens);
    check_same<int64_t>(doubled[size_t(k)], add(b.input, b.input), "input + input", k);
  }
}

}  // namespace

TEST_CASE("CUDA loader batches equal the CPU collation over many recycled staging buffers") {
  TaskOptions ih;
  ih.name = "induction_heads";
  ih.seq_len = 256;
  ih.vocab = 16;
  compare(make_task(ih), {.batch_size = 64, .seed = 0}, 60, -1);
}

TEST_CASE("CUDA loader: varying widths, shuffled epochs and a moved cursor match the CPU") {
  compare(std::make_shared<VaryingDataset>(), {.batch_size = 24, .seed = 7}, 150, 70);
}

TEST_CASE("a CUDA loader destroyed with uploads in flight, and its device batches, stay valid") {
  TaskOptions sc;
  sc.seq_len = 4096;
  Tensor kept;
  {
    Loader loader(make_task(sc), {.batch_size = 16, .prefetch = 4, .device = Device::cuda()});
    kept = loader.next().input;
  }  // the prefetch queue is full here
  Loader cpu(make_task(sc), {.batch_size = 16, .prefetch = 0});
  CHECK(core::to(kept, Device::cpu()).to_vector<int64_t>() ==
        cpu.next().input.to_vector<int64_t>());
}

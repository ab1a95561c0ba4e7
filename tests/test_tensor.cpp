// Tensor metadata, the contiguity definition, and views: every view shares storage and reads the
// elements the index arithmetic says it should.
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

TEST_CASE("empty tensor reports shape, row-major strides, dtype, device and sizes") {
  Tensor t = empty({2, 3, 4}, {DType::f64, Device::cpu()});
  CHECK(t.defined());
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.strides() == Strides{12, 4, 1});
  CHECK(t.dim() == 3);
  CHECK(t.numel() == 24);
  CHECK(t.size(0) == 2);
  CHECK(t.size(-1) == 4);
  CHECK(t.stride(-2) == 4);
  CHECK(t.offset() == 0);
  CHECK(t.dtype() == DType::f64);
  CHECK(t.device() == Device::cpu());
  CHECK(t.itemsize() == 8);
  CHECK(t.nbytes() == 24 * 8);
  CHECK(t.options().dtype == DType::f64);
  CHECK(describe(t) == "f64 (2, 3, 4) on cpu");
  CHECK(describe(Tensor()) == "undefined tensor");
  CHECK_FALSE(Tensor().defined());
}

TEST_CASE("dtype sizes, names and promotion follow the X-macro list") {
  CHECK(dtype_size(DType::f32) == 4);
  CHECK(dtype_size(DType::bf16) == 2);
  CHECK(dtype_size(DType::i64) == 8);
  CHECK(dtype_size(DType::boolean) == 1);
  CHECK(dtype_name(DType::boolean) == "bool");
  CHECK(promote_types(DType::i32, DType::f32) == DType::f32);
  CHECK(promote_types(DType::bf16, DType::i64) == DType::bf16);
  CHECK(promote_types(DType::boolean, DType::u8) == DType::u8);
  CHECK(shape_str({}) == "()");
  CHECK(shape_str({5}) == "(5,)");
  CHECK(Device::parse("cuda:3") == Device::cuda(3));
  CHECK(Device::parse("cpu").str() == "cpu");
}

TEST_CASE("scalar and zero-size tensors have consistent metadata") {
  Tensor s = scalar_tensor(2.5);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.is_contiguous());
  CHECK(s.item<float>() == 2.5f);
  Tensor z = empty({0, 3});
  CHECK(z.numel() == 0);
  CHECK(z.nbytes() == 0);
  CHECK(z.is_contiguous());
  CHECK(z.to_vector<float>().empty());
}

TEST_CASE("contiguous means dense row-major; size-1 dims may carry any stride") {
  Tensor t = randn_t({4, 5, 6});
  CHECK(t.is_contiguous());
  CHECK_FALSE(core::transpose(t, 0, 2).is_contiguous());
  CHECK_FALSE(core::slice(t, 2, 0, 6, 2).is_contiguous());
  CHECK_FALSE(core::narrow(t, 2, 1, 3).is_contiguous());
  CHECK(core::narrow(t, 0, 1, 2).is_contiguous());  // offset may be anything
  CHECK(core::select(t, 0, 3).is_contiguous());
  CHECK_FALSE(core::expand(core::narrow(t, 0, 0, 1), {3, 5, 6}).is_contiguous());
  // A size-1 dim with a nonsense stride does not break contiguity.
  Tensor odd = core::as_strided(t, {5, 1, 6}, {6, 999, 1}, 0);
  CHECK(odd.is_contiguous());
  // Transposing two size-1 dims leaves the layout dense.
  Tensor u = randn_t({1, 1, 7});
  CHECK(core::transpose(u, 0, 1).is_contiguous());
}

TEST_CASE("reshape of a contiguous tensor is a view over the same storage") {
  Tensor t = randn_t({2, 3, 4});
  Tensor r = core::reshape(t, {4, -1});
  CHECK(r.shape() == Shape{4, 6});
  CHECK(r.storage() == t.storage());
  CHECK(r.data_ptr() == t.data_ptr());
  check_equal(r, read_all(t), "reshape keeps row-major order");
  Tensor v = core::view(t, {24});
  CHECK(v.storage() == t.storage());
  CHECK(core::view(t, {2, 1, 12, 1}).shape() == Shape{2, 1, 12, 1});
}

TEST_CASE("reshape of a transposed tensor copies into row-major order") {
  Tensor t = randn_t({3, 4});
  Tensor tt = core::transpose(t, 0, 1);
  Tensor r = core::reshape(tt, {12});
  CHECK(r.storage() != t.storage());
  CHECK(r.is_contiguous());
  check_equal(r, read_all(tt), "reshape(transpose)");
}

TEST_CASE("view works on non-contiguous tensors whose merged dims stay dense, else throws") {
  Tensor t = randn_t({4, 6});
  Tensor s = core::slice(t, 1, 0, 4);  // (4, 4) strides (6, 1)
  Tensor v = core::view(s, {4, 2, 2});
  CHECK(v.strides() == Strides{6, 2, 1});
  CHECK(v.storage() == t.storage());
  check_equal(v, read_all(s), "split the dense inner dim");
  Tensor v2 = core::view(s, {2, 2, 4});  // splitting the strided outer dim
  CHECK(v2.strides() == Strides{12, 6, 1});
  check_equal(v2, read_all(s), "split the strided outer dim");
  std::string msg = error_of([&] { core::view(s, {16}); });
  CHECK(msg.starts_with("[view]"));
  CHECK(contains(msg, "(4, 4)"));
  CHECK(contains(msg, "(16,)"));
  CHECK_THROWS_AS(core::view(core::transpose(t, 0, 1), {24}), Error);
  // An expanded (stride 0) dim stays stride 0 when viewed; merging it with another is impossible.
  Tensor e = core::expand(randn_t({1, 4}), {3, 4});
  Tensor ev = core::view(e, {3, 2, 2});
  CHECK(ev.strides() == Strides{0, 2, 1});
  check_equal(ev, read_all(e), "view of an expanded tensor");
  CHECK_THROWS_AS(core::view(e, {12}), Error);
  check_equal(core::reshape(e, {12}), read_all(e), "reshape of an expanded tensor copies");
  // Every other column: rows of stride 6 continue the column stride 2, so one dim suffices.
  Tensor every_other = core::slice(t, 1, 0, 6, 2);  // (4, 3) strides (6, 2)
  Tensor flat = core::view(every_other, {12});
  CHECK(flat.strides() == Strides{2});
  check_equal(flat, read_all(every_other), "uniform stride merges");
}

TEST_CASE("permute reorders shape and strides and reads the permuted element") {
  Tensor t = randn_t({2, 3, 4});
  Tensor p = core::permute(t, {2, 0, -2});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Strides{1, 12, 4});
  CHECK(p.storage() == t.storage());
  for_each_index(p.shape(), [&](const Shape& i) { CHECK(at(p, i) == at(t, {i[1], i[2], i[0]})); });
}

TEST_CASE("transpose swaps two dims; negative dims count from the end") {
  Tensor t = randn_t({3, 5});
  Tensor tt = core::transpose(t, -1, 0);
  CHECK(tt.shape() == Shape{5, 3});
  CHECK(tt.strides() == Strides{1, 5});
  for_each_index(tt.shape(), [&](const Shape& i) { CHECK(at(tt, i) == at(t, {i[1], i[0]})); });
}

TEST_CASE("slice with a step picks start, start+step, ... before end") {
  Tensor a = arange(0.0, 10.0);
  check_equal(core::slice(a, 0, 1, 8, 3), {1, 4, 7});
  check_equal(core::slice(a, 0, 1, 9, 3), {1, 4, 7});
  check_equal(core::slice(a, 0, -4, -1), {6, 7, 8});
  CHECK(core::slice(a, 0, 5, 5).numel() == 0);
  check_equal(core::slice(a, 0, 0, 10, 20), {0});
  Tensor m = randn_t({3, 7});
  Tensor s = core::slice(m, 1, 1, 7, 2);
  CHECK(s.shape() == Shape{3, 3});
  CHECK(s.strides() == Strides{7, 2});
  CHECK(s.offset() == 1);
  CHECK(s.storage() == m.storage());
  for_each_index(s.shape(), [&](const Shape& i) {
    CHECK(at(s, i) == at(m, {i[0], 1 + 2 * i[1]}));
  });
  // Slicing a slice composes offsets and steps.
  Tensor ss = core::slice(s, 1, 1, 3, 1);
  for_each_index(ss.shape(), [&](const Shape& i) {
    CHECK(at(ss, i) == at(m, {i[0], 3 + 2 * i[1]}));
  });
}

TEST_CASE("narrow keeps length elements from start; select drops the dim") {
  Tensor m = randn_t({4, 6});
  Tensor n = core::narrow(m, 1, 2, 3);
  CHECK(n.shape() == Shape{4, 3});
  for_each_index(n.shape(), [&](const Shape& i) { CHECK(at(n, i) == at(m, {i[0], i[1] + 2})); });
  Tensor nneg = core::narrow(m, 0, -2, 2);
  for_each_index(nneg.shape(), [&](const Shape& i) {
    CHECK(at(nneg, i) == at(m, {i[0] + 2, i[1]}));
  });
  Tensor row = core::select(m, 0, 2);
  CHECK(row.shape() == Shape{6});
  CHECK(row.storage() == m.storage());
  for (int64_t j = 0; j < 6; ++j) CHECK(at(row, {j}) == at(m, {2, j}));
  Tensor col = core::select(m, 1, -1);
  CHECK(col.shape() == Shape{4});
  CHECK(col.strides() == Strides{6});
  for (int64_t i = 0; i < 4; ++i) CHECK(at(col, {i}) == at(m, {i, 5}));
  Tensor sc = core::select(row, 0, 4);
  CHECK(sc.dim() == 0);
  CHECK(sc.item<float>() == float(at(m, {2, 4})));
}

TEST_CASE("expand broadcasts size-1 and new leading dims with stride 0") {
  Tensor c = randn_t({3, 1});
  Tensor e = core::expand(c, {2, 3, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.strides() == Strides{0, 1, 0});
  CHECK(e.storage() == c.storage());
  for_each_index(e.shape(), [&](const Shape& i) { CHECK(at(e, i) == at(c, {i[1], 0})); });
  Tensor keep = core::expand(c, {-1, 5});
  CHECK(keep.shape() == Shape{3, 5});
  CHECK(core::expand(c, {3, 1}).strides() == c.strides());
}

TEST_CASE("unsqueeze inserts a size-1 dim anywhere; squeeze removes them") {
  Tensor t = randn_t({2, 3});
  CHECK(core::unsqueeze(t, 0).shape() == Shape{1, 2, 3});
  CHECK(core::unsqueeze(t, 1).shape() == Shape{2, 1, 3});
  CHECK(core::unsqueeze(t, -1).shape() == Shape{2, 3, 1});
  CHECK(core::unsqueeze(t, 2).shape() == Shape{2, 3, 1});
  for (int64_t d : {0, 1, 2}) {
    Tensor u = core::unsqueeze(t, d);
    CHECK(u.is_contiguous());
    check_equal(u, read_all(t), "unsqueeze keeps values");
  }
  Tensor tt = core::unsqueeze(core::transpose(t, 0, 1), 1);  // (3, 1, 2)
  for_each_index(tt.shape(), [&](const Shape& i) { CHECK(at(tt, i) == at(t, {i[2], i[0]})); });
  Tensor s = randn_t({1, 4, 1, 2});
  CHECK(core::squeeze(s, 0).shape() == Shape{4, 1, 2});
  CHECK(core::squeeze(s, -2).shape() == Shape{1, 4, 2});
  CHECK(core::squeeze(s, 1).shape() == Shape{1, 4, 1, 2});  // size 4: unchanged
  CHECK(core::squeeze(s).shape() == Shape{4, 2});
  check_equal(core::squeeze(s), read_all(s), "squeeze keeps values");
  CHECK(core::squeeze(scalar_tensor(1.0)).dim() == 0);
}

TEST_CASE("flatten merges a dim range, viewing when possible") {
  Tensor t = randn_t({2, 3, 4});
  Tensor f = core::flatten(t);
  CHECK(f.shape() == Shape{24});
  CHECK(f.storage() == t.storage());
  CHECK(core::flatten(t, 1).shape() == Shape{2, 12});
  CHECK(core::flatten(t, 0, 1).shape() == Shape{6, 4});
  CHECK(core::flatten(t, -2, -1).shape() == Shape{2, 12});
  Tensor p = core::permute(t, {2, 0, 1});
  Tensor fp = core::flatten(p);
  check_equal(fp, read_all(p), "flatten of a permuted tensor is row-major");
  CHECK(core::flatten(scalar_tensor(3.0)).shape() == Shape{1});
}

TEST_CASE("as_strided builds overlapping windows over the same storage") {
  Tensor a = arange(0.0, 10.0);
  Tensor w = core::as_strided(a, {3, 4}, {2, 1}, 1);
  CHECK(w.storage() == a.storage());
  check_equal(w, {1, 2, 3, 4, 3, 4, 5, 6, 5, 6, 7, 8});
  Tensor diag = core::as_strided(randn_t({4, 4}), {4}, {5}, 0);
  CHECK(diag.shape() == Shape{4});
}

TEST_CASE("views share storage: writes through a view are seen by the base and other views") {
  Tensor t = randn_t({4, 5});
  Tensor handle = t;
  CHECK(handle.is_same(t));
  Tensor col = core::select(t, 1, 2);
  CHECK_FALSE(col.is_same(t));
  core::fill_(col, 7.0);
  for (int64_t i = 0; i < 4; ++i) CHECK(at(t, {i, 2}) == 7.0);
  CHECK(at(t, {0, 1}) != 7.0);
  Tensor tt = core::transpose(t, 0, 1);
  core::fill_(core::select(tt, 0, 0), -1.0);  // row 0 of tt = column 0 of t
  for (int64_t i = 0; i < 4; ++i) CHECK(at(t, {i, 0}) == -1.0);
  // The storage outlives the base handle while a view holds it.
  Tensor v;
  {
    Tensor base = arange(0.0, 6.0);
    v = core::slice(base, 0, 3, 6);
  }
  check_equal(v, {3, 4, 5});
}

TEST_CASE("contiguous returns the same tensor when dense and a row-major copy otherwise") {
  Tensor t = randn_t({3, 4});
  CHECK(core::contiguous(t).is_same(t));
  Tensor sel = core::narrow(t, 0, 1, 2);
  CHECK(core::contiguous(sel).is_same(sel));
  Tensor tt = core::transpose(t, 0, 1);
  Tensor c = core::contiguous(tt);
  CHECK_FALSE(c.is_same(tt));
  CHECK(c.storage() != t.storage());
  CHECK(c.is_contiguous());
  CHECK(c.strides() == Strides{3, 1});
  check_equal(c, read_all(tt), "contiguous(transpose)");
  Tensor e = core::contiguous(core::expand(core::narrow(t, 0, 0, 1), {5, 4}));
  CHECK(e.shape() == Shape{5, 4});
  for_each_index(e.shape(), [&](const Shape& i) { CHECK(at(e, i) == at(t, {0, i[1]})); });
}

TEST_CASE("item and to_vector read any layout in row-major order with conversion") {
  Tensor t = randn_t({3, 4}, DType::f64);
  Tensor tt = core::transpose(t, 0, 1);
  auto v = tt.to_vector<double>();
  check_close(v, read_all(tt), 0, 0, "to_vector<double>");
  auto f = tt.to_vector<float>();
  for (size_t i = 0; i < f.size(); ++i) CHECK(f[i] == float(v[i]));
  CHECK(core::select(core::select(t, 0, 1), 0, 2).item<double>() == at(t, {1, 2}));
  CHECK(full({1, 1}, 3.0, {DType::i32, Device::cpu()}).item<int64_t>() == 3);
}

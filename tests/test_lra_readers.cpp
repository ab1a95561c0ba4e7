// LRA readers on small fixtures written here in each released layout: tokens, labels, splits,
// the missing-layout message, and every kind of bad input under both policies.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>

#include "core/error.h"
#include "data/lra/lra.h"
#include "data/lra/png_io.h"
#include "test_lra_support.h"

using namespace coil;
using namespace coil::data;
using namespace coil::data::lra;
using namespace coil_lra_test;

namespace {

std::shared_ptr<Dataset> open(const std::string& task, const fs::path& root,
                              const std::string& split = "train", bool skip = false,
                              int64_t* skipped = nullptr) {
  LraOptions o;
  o.task = task;
  o.root = root.string();
  o.split = split;
  o.on_bad_input = skip ? OnBadInput::skip : OnBadInput::stop;
  return make_lra_dataset(o, skipped);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Example get(const Dataset& d, int64_t i) {
  Example ex;
  d.get(i, ex);
  return ex;
}

int32_t D(int d) { return kListOpsDigit0 + d; }

const char* kListOpsGood =
    "Source\tTarget\n"
    "( ( ( [MAX 2 ) 9 ) ] )\t9\n"
    "( ( ( [MIN 3 ) ( ( ( [SM 4 ) 8 ) ] ) ) ] )\t2\n"
    "( ( ( ( [MED 1 ) 7 ) 5 ) ] )\t5\n";

}  // namespace

TEST_CASE("lra listops: released TSV rows become operator/digit tokens without parentheses") {
  TempDir dir;
  write_bytes(dir / "basic_val.tsv", kListOpsGood);
  auto d = open("listops", dir.path, "val");
  REQUIRE(d->size() == 3);
  CHECK(d->vocab_size() == kListOpsVocab);
  CHECK(d->num_classes() == 10);
  CHECK(get(*d, 0).input == std::vector<int32_t>{kListOpsMax, D(2), D(9), kListOpsEnd});
  CHECK(get(*d, 1).input ==
        std::vector<int32_t>{kListOpsMin, D(3), kListOpsSm, D(4), D(8), kListOpsEnd, kListOpsEnd});
  CHECK(get(*d, 1).target == std::vector<int32_t>{2});
  CHECK(get(*d, 2).target == std::vector<int32_t>{5});
  CHECK(d->max_len() == 7);
}

TEST_CASE("lra listops: listops_source writes exactly the released nested form") {
  CHECK(listops_source({kListOpsMax, D(2), D(9), kListOpsEnd}) == "( ( ( [MAX 2 ) 9 ) ] )");
  CHECK(listops_source({kListOpsMin, D(3), kListOpsSm, D(4), D(8), kListOpsEnd, kListOpsEnd}) ==
        "( ( ( [MIN 3 ) ( ( ( [SM 4 ) 8 ) ] ) ) ] )");
  CHECK_THROWS_AS(listops_source({kListOpsMax, D(2)}), Error);
  CHECK_THROWS_AS(listops_source({D(2), kListOpsEnd}), Error);
}

TEST_CASE("lra listops: bad lines stop with file:line by default, or are skipped and counted") {
  TempDir dir;
  write_bytes(dir / "basic_train.tsv",
              std::string(kListOpsGood) +
                  "( ( ( [MAX 2 ) 9 ) ] )\n"        // line 5: one field
                  "( ( ( [MAXX 2 ) 9 ) ] )\t9\n"    // line 6: unknown token
                  "( ( ( [MAX 2 ) 9 ) ] )\t12\n"    // line 7: label out of range
                  "( ( ( [MAX 2 ) 9 ) ] )\tnine\n"  // line 8: not an integer
                  "\xff\xfe\t3\n"                   // line 9: bytes that are no token
                  "( ( ( [MAX 1 ) 3 ) ] )\t3\n"     // line 10: good
                  "( ( ( [MA");                     // line 11: truncated mid-token
  std::string e = error_of([&] { open("listops", dir.path); });
  CHECK(e.find("basic_train.tsv:5: malformed line") != std::string::npos);
  int64_t skipped = 0;
  auto d = open("listops", dir.path, "train", true, &skipped);
  CHECK(skipped == 6);
  REQUIRE(d->size() == 4);
  CHECK(get(*d, 3).target == std::vector<int32_t>{3});

  write_bytes(dir / "basic_test.tsv", "Source\tTarget\n( ( ( [MAX 2 ) 9 ) ] )\t10\n");
  e = error_of([&] { open("listops", dir.path, "test"); });
  CHECK(e.find("basic_test.tsv:2: label 10 outside the classes 0..9") != std::string::npos);
}

TEST_CASE("lra: a missing root or file names the expected layout") {
  TempDir dir;
  std::string e = error_of([&] { open("listops", dir / "nowhere"); });
  CHECK(e.find("nowhere") != std::string::npos);
  CHECK(e.find("basic_{train,val,test}.tsv") != std::string::npos);
  e = error_of([&] { open("listops", dir.path); });
  CHECK(e.find("basic_train.tsv") != std::string::npos);
  e = error_of([&] { open("text", dir.path); });
  CHECK(e.find("{train,test}/{pos,neg}/*.txt") != std::string::npos);
  e = error_of([&] { open("pathfinder", dir.path); });
  CHECK(e.find("metadata/k.npy") != std::string::npos);
  CHECK(error_of([&] { open("cifar", dir.path); }).find("expected listops, text") !=
        std::string::npos);
  CHECK(error_of([&] { open("listops", dir.path, "dev"); }).find("split") != std::string::npos);
}

TEST_CASE("lra text: IMDB files are bytes + 1, truncated to 4096, invalid UTF-8 kept as is") {
  TempDir dir;
  fs::path root = dir / "aclImdb";
  write_bytes(root / "train/pos/0_9.txt", "Great film!");
  write_bytes(root / "train/pos/1_8.txt", std::string(5000, 'a'));
  write_bytes(root / "train/neg/0_2.txt", std::string("bad \xff\xfe\xc3(", 8));
  write_bytes(root / "test/neg/3_1.txt", "meh");
  write_bytes(root / "test/pos/4_10.txt", "");
  auto d = open("text", root);
  REQUIRE(d->size() == 3);
  Example neg = get(*d, 0);  // neg first, then pos, files in name order
  CHECK(neg.target == std::vector<int32_t>{0});
  CHECK(neg.input == std::vector<int32_t>{'b' + 1, 'a' + 1, 'd' + 1, ' ' + 1, 0xff + 1, 0xfe + 1,
                                          0xc3 + 1, '(' + 1});
  CHECK(get(*d, 1).input.size() == 11);
  CHECK(get(*d, 1).target == std::vector<int32_t>{1});
  CHECK(get(*d, 2).input.size() == 4096);
  CHECK(d->max_len() == 4096);
  CHECK(d->vocab_size() == 257);
  CHECK(open("text", root, "test")->size() == 2);

  // An unreadable entry (here a directory named like a review) stops, or is skipped.
  fs::create_directories(root / "train/pos/2_7.txt");
  CHECK(error_of([&] { open("text", root); }).find("2_7.txt: cannot read") != std::string::npos);
  int64_t skipped = 0;
  CHECK(open("text", root, "train", true, &skipped)->size() == 3);
  CHECK(skipped == 1);
  fs::remove_all(root / "test/pos");
  CHECK(error_of([&] { open("text", root, "val"); }).find("test/pos") != std::string::npos);
}

TEST_CASE("lra retrieval: AAN rows give doc1 padded to 4000 then doc2; bad rows reported") {
  TempDir dir;
  std::string long_doc(4500, 'x');
  write_bytes(dir / "new_aan_pairs.eval.tsv",
              "1.0\tid_a\tid_b\tab\tcde\n"
              "0\tid_c\tid_d\t" +
                  long_doc +
                  "\t\xf0\x28\n"
                  "1\tid_e\tid_f\tonly four fields\n"  // line 3: malformed
                  "2.0\tid_g\tid_h\tx\ty\n"            // line 4: label out of range
                  "0.0\tid_i\tid_j\tq\tr");            // line 5: good, no final newline
  int64_t skipped = 0;
  auto d = open("retrieval", dir.path, "val", true, &skipped);
  CHECK(skipped == 2);
  REQUIRE(d->size() == 3);
  Example a = get(*d, 0);
  REQUIRE(a.input.size() == 4003);
  CHECK(a.input[0] == 'a' + 1);
  CHECK(a.input[1] == 'b' + 1);
  CHECK(a.input[2] == 0);
  CHECK(a.input[3999] == 0);
  CHECK(a.input[4000] == 'c' + 1);
  CHECK(a.target == std::vector<int32_t>{1});
  Example b = get(*d, 1);
  REQUIRE(b.input.size() == 4002);
  CHECK(b.input[3999] == 'x' + 1);
  CHECK(b.input[4000] == 0xf0 + 1);
  CHECK(b.target == std::vector<int32_t>{0});
  std::string e = error_of([&] { open("retrieval", dir.path, "val"); });
  CHECK(e.find("new_aan_pairs.eval.tsv:3: malformed line") != std::string::npos);
  write_bytes(dir / "new_aan_pairs.test.tsv", "2.0\tid_g\tid_h\tx\ty\n");
  e = error_of([&] { open("retrieval", dir.path, "test"); });
  CHECK(e.find("new_aan_pairs.test.tsv:1: label 2.0 outside the classes 0..1") !=
        std::string::npos);
}

TEST_CASE("lra image: CIFAR-10 records become 1024 gray pixels; bad and truncated records") {
  TempDir dir;
  auto record = [](uint8_t label, uint8_t r, uint8_t g, uint8_t b) {
    std::string rec(3073, '\0');
    rec[0] = char(label);
    std::memset(&rec[1], r, 1024);
    std::memset(&rec[1025], g, 1024);
    std::memset(&rec[2049], b, 1024);
    rec[1 + 5] = char(255);  // pixel 5 is red-ish: different from the rest
    return rec;
  };
  write_bytes(dir / "data_batch_1.bin", record(3, 100, 50, 200) + record(12, 0, 0, 0));
  for (int b = 2; b <= 5; ++b)
    write_bytes(dir / fmt::format("data_batch_{}.bin", b), b == 3 ? record(7, 10, 20, 30) : "");
  write_bytes(dir / "test_batch.bin", record(9, 255, 255, 255) + record(1, 1, 1, 1).substr(0, 99));
  std::string e = error_of([&] { open("image", dir.path); });
  CHECK(e.find("data_batch_1.bin: record 2: label 12 outside the classes 0..9") !=
        std::string::npos);
  int64_t skipped = 0;
  auto d = open("image", dir.path, "train", true, &skipped);
  CHECK(skipped == 1);
  REQUIRE(d->size() == 2);
  Example a = get(*d, 0);
  REQUIRE(a.input.size() == 1024);
  CHECK(a.target == std::vector<int32_t>{3});
  // PIL "L": (100*19595 + 50*38470 + 200*7471 + 32768) >> 16 = 82
  CHECK(a.input[0] == 82);
  CHECK(a.input[5] == (255 * 19595 + 50 * 38470 + 200 * 7471 + 32768) >> 16);
  CHECK(get(*d, 1).target == std::vector<int32_t>{7});
  e = error_of([&] { open("image", dir.path, "test"); });
  CHECK(e.find("record 2 is truncated (99 of 3073 bytes)") != std::string::npos);
  auto t = open("image", dir.path, "test", true);
  REQUIRE(t->size() == 1);
  CHECK(get(*t, 0).input[100] == 255);
}

namespace {
// A pathfinder fixture: 10 images, image i has pixel value 10 * i at (0, 0) and label i % 2.
void write_pathfinder_fixture(const fs::path& root, int res) {
  std::string meta;
  for (int i = 0; i < 10; ++i) {
    std::vector<uint8_t> px(res * res, 0);
    px[0] = uint8_t(10 * i);
    px[res * res - 1] = 200;
    write_bytes(root / fmt::format("imgs/0/sample_{}.png", i), "");
    write_png_gray((root / fmt::format("imgs/0/sample_{}.png", i)).string(), res, res, px.data());
    meta += fmt::format("imgs/0 sample_{}.png {} {} 1.0 14 4 2 0.5 1 1\n", i, i, i % 2);
  }
  write_bytes(root / "metadata/0.npy", meta);
}
}  // namespace

TEST_CASE("lra pathfinder: metadata + PNGs read back, split 80/10/10 by position") {
  for (int res : {32, 128}) {
    TempDir dir;
    write_pathfinder_fixture(dir.path, res);
    const std::string task = res == 32 ? "pathfinder" : "pathx";
    auto train = open(task, dir.path, "train");
    REQUIRE(train->size() == 8);
    CHECK(train->max_len() == res * res);
    CHECK(train->num_classes() == 2);
    for (int i = 0; i < 8; ++i) {
      Example ex = get(*train, i);
      CHECK(ex.input[0] == 10 * i);
      CHECK(ex.input[res * res - 1] == 200);
      CHECK(ex.target == std::vector<int32_t>{i % 2});
    }
    CHECK(get(*open(task, dir.path, "val"), 0).input[0] == 80);
    CHECK(get(*open(task, dir.path, "test"), 0).input[0] == 90);
  }
}

TEST_CASE("lra pathfinder: missing, unreadable, truncated and wrong-size PNGs, bad labels") {
  TempDir dir;
  write_pathfinder_fixture(dir.path, 32);
  std::string png = read_bytes(dir / "imgs/0/sample_3.png");
  write_bytes(dir / "imgs/0/sample_3.png", png.substr(0, png.size() / 2));  // truncated
  write_bytes(dir / "imgs/0/sample_4.png", "not a png at all");             // unreadable
  fs::remove(dir / "imgs/0/sample_5.png");                                  // missing
  std::vector<uint8_t> small(16 * 16, 7);
  write_png_gray((dir / "imgs/0/sample_6.png").string(), 16, 16, small.data());  // wrong size
  std::string meta = read_bytes(dir / "metadata/0.npy");
  meta +=
      "imgs/0 sample_0.png 10 3 1.0\n"  // line 11: label out of range (train: g = 10)
      "imgs/0 sample_0.png\n"           // line 12: malformed (g = 11)
      "imgs/0 sample_1.png 12 1";       // line 13: good, truncated after the label
  write_bytes(dir / "metadata/0.npy", meta);

  std::string e = error_of([&] { open("pathfinder", dir.path); });
  CHECK(e.find("metadata/0.npy:11: label \"3\" outside the classes 0..1") != std::string::npos);
  int64_t skipped = 0;
  auto d = open("pathfinder", dir.path, "train", true, &skipped);
  CHECK(skipped == 6);
  CHECK(d->size() == 5);  // samples 0, 1, 2, 7 and line 13

  // With the metadata lines fixed, the first image problem is the one reported.
  write_bytes(dir / "metadata/0.npy", meta.substr(0, meta.find("imgs/0 sample_0.png 10")));
  e = error_of([&] { open("pathfinder", dir.path); });
  CHECK(e.find("metadata/0.npy:4: unreadable PNG") != std::string::npos);
  CHECK(e.find("sample_3.png") != std::string::npos);
  fs::copy_file(dir / "imgs/0/sample_0.png", dir / "imgs/0/sample_3.png",
                fs::copy_options::overwrite_existing);
  fs::copy_file(dir / "imgs/0/sample_0.png", dir / "imgs/0/sample_4.png",
                fs::copy_options::overwrite_existing);
  e = error_of([&] { open("pathfinder", dir.path); });
  CHECK(e.find("metadata/0.npy:6: points at a missing file") != std::string::npos);
  fs::copy_file(dir / "imgs/0/sample_0.png", dir / "imgs/0/sample_5.png");
  e = error_of([&] { open("pathfinder", dir.path); });
  CHECK(e.find("metadata/0.npy:7:") != std::string::npos);
  CHECK(e.find("is 16x16, expected 32x32") != std::string::npos);
}

TEST_CASE("lra: a file cut at any byte is an error or fewer records, never a crash") {
  TempDir dir;
  // ListOps TSV: every cut either reads the complete lines or stops at a bad line.
  for (size_t cut = 0; cut <= std::strlen(kListOpsGood); ++cut) {
    write_bytes(dir / "basic_val.tsv", std::string(kListOpsGood).substr(0, cut));
    int64_t skipped = 0;
    try {
      auto d = open("listops", dir.path, "val", true, &skipped);
      CHECK(d->size() + skipped <= 4);
    } catch (const Error& e) {  // nothing usable left: says so
      CHECK(std::string(e.what()).find("no usable") != std::string::npos);
    }
  }
  // PNG: a prefix of a valid file is rejected with a message, except one that only loses (part
  // of) the 12-byte IEND chunk: its pixels are all there and must come back exactly.
  std::vector<uint8_t> px(32 * 32, 9), back;
  write_png_gray((dir / "full.png").string(), 32, 32, px.data());
  std::string png = read_bytes(dir / "full.png");
  int w = 0, h = 0;
  CHECK(read_png_gray((dir / "full.png").string(), w, h, back) == "");
  CHECK(back == px);
  for (size_t cut = 0; cut < png.size(); ++cut) {
    write_bytes(dir / "cut.png", png.substr(0, cut));
    back.clear();
    bool ok = read_png_gray((dir / "cut.png").string(), w, h, back).empty();
    CHECK(ok == (cut >= png.size() - 12));
    if (ok) CHECK(back == px);
  }
  // AAN: a row cut anywhere is malformed or shorter, never out of bounds.
  const std::string row = "1\tid_a\tid_b\tsome text\tother text\n";
  for (size_t cut = 0; cut <= row.size(); ++cut) {
    write_bytes(dir / "new_aan_pairs.test.tsv", row + row.substr(0, cut));
    int64_t skipped = 0;
    auto d = open("retrieval", dir.path, "test", true, &skipped);
    CHECK(d->size() + skipped == (cut == 0 ? 1 : 2));
  }
}

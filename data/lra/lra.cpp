// make_lra_dataset: checks the options and hands over to the task's reader.
#include "data/lra/lra.h"

#include <fmt/format.h>

#include <cstdio>

#include "core/error.h"
#include "data/lra/readers.h"

namespace coil::data::lra {

std::shared_ptr<Dataset> make_lra_dataset(const LraOptions& o, int64_t* skipped) {
  COIL_CHECK(o.split == "train" || o.split == "val" || o.split == "test",
             "[lra] split: expected train, val or test, got \"{}\"", o.split);
  COIL_CHECK(!o.root.empty(), "[lra {}] the data root is empty: set it to the task's directory",
             o.task);
  BadInputLog log(o.on_bad_input, fmt::format("lra {} {}", o.task, o.split));
  std::shared_ptr<Dataset> data;
  if (o.task == "listops") data = read_listops(o, log);
  else if (o.task == "text") data = read_imdb(o, log);
  else if (o.task == "retrieval") data = read_aan(o, log);
  else if (o.task == "image") data = read_cifar(o, log);
  else if (o.task == "pathfinder" || o.task == "pathx") data = read_pathfinder(o, log);
  else
    COIL_FAIL(
        "[lra] task: expected listops, text, retrieval, image, pathfinder or pathx, got "
        "\"{}\"",
        o.task);
  if (log.skipped() > 0) fmt::print(stderr, "{}\n", log.summary());
  if (skipped) *skipped = log.skipped();
  COIL_CHECK(data->size() > 0, "[lra {}] {} holds no usable {} examples", o.task, o.root, o.split);
  return data;
}

}  // namespace coil::data::lra

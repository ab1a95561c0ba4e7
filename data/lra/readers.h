// The per-task readers behind make_lra_dataset (private to data/lra).
#pragma once
#include <memory>

#include "data/lra/lra.h"

namespace coil::data::lra {

std::shared_ptr<Dataset> read_listops(const LraOptions& o, BadInputLog& log);
std::shared_ptr<Dataset> read_imdb(const LraOptions& o, BadInputLog& log);
std::shared_ptr<Dataset> read_aan(const LraOptions& o, BadInputLog& log);
std::shared_ptr<Dataset> read_cifar(const LraOptions& o, BadInputLog& log);
std::shared_ptr<Dataset> read_pathfinder(const LraOptions& o, BadInputLog& log);

}  // namespace coil::data::lra

// Config -> task, model and optimizer settings. Every key of the schema is read here, by the
// trainer or by `coil eval`; nothing else interprets config values.
#include "train/setup.h"

#include <map>

#include "data/lra/lra.h"

namespace coil::train {

data::TaskOptions task_options(const Config& c, bool heldout, int64_t seq_len) {
  data::TaskOptions o;
  o.name = c.string("task.name");
  o.seq_len = seq_len > 0 ? seq_len : c.integer("task.seq_len");
  o.vocab = c.integer("task.vocab");
  // The data stream's key is derived from the run seed; the held-out split has its own key.
  uint64_t seed = uint64_t(c.integer("train.seed")) * 0x100000001B3ull + 0xDA7A;
  o.seed = heldout ? data::heldout_seed(seed) : seed;
  o.num_tokens = c.integer("task.num_tokens");
  // Held-out induction heads are scored on the final token, whatever the training loss.
  o.loss = heldout ? "final" : c.string("task.loss");
  o.num_pairs = c.integer("task.num_pairs");
  o.power_a = c.number("task.power_a");
  o.random_non_queries = c.boolean("task.random_non_queries");
  return o;
}

Split heldout_split(const Config& c) {
  return c.string("eval.split") == "test" ? Split::test : Split::val;
}

bool is_lra(const Config& c) { return c.string("task.name").rfind("lra_", 0) == 0; }

std::string lra_task(const Config& c) { return c.string("task.name").substr(4); }

bool pixel_input(const Config& c) {
  std::string t = c.string("task.name");
  return t == "lra_image" || t == "lra_pathfinder" || t == "lra_pathx";
}

std::shared_ptr<data::Dataset> make_dataset(const Config& c, Split split, int64_t seq_len) {
  if (!is_lra(c)) return data::make_task(task_options(c, split != Split::train, seq_len));
  if (c.string("task.root").empty())
    throw ConfigError(
        fmt::format("task.root: {} reads its data from a directory; set task.root "
                    "(e.g. `coil data {} --out DIR`, or the released LRA files)",
                    c.string("task.name"), lra_task(c)));
  data::lra::LraOptions o;
  o.task = lra_task(c);
  o.root = c.string("task.root");
  o.split = split == Split::train ? "train" : split == Split::val ? "val" : "test";
  o.on_bad_input = data::lra::parse_on_bad_input(c.string("task.on_bad_input"));
  return data::lra::make_lra_dataset(o);
}

nn::ModelOptions model_options(const Config& c, const data::Dataset& task) {
  nn::ModelOptions o;
  o.layer = c.string("model.layer");
  o.d_model = c.integer("model.d_model");
  o.n_layer = c.integer("model.n_layer");
  o.vocab_size = task.vocab_size();
  o.norm = c.string("model.norm");
  o.prenorm = c.boolean("model.prenorm");
  o.dropout = c.number("model.dropout");
  o.tie_dropout = c.boolean("model.tie_dropout");
  if (is_lra(c)) {  // S4's LRA model: encoder -> layers -> pool -> Linear(H, classes)
    o.head = "classify";
    o.n_classes = task.num_classes();
    o.pool = c.string("model.pool");
    if (pixel_input(c)) o.encoder = "linear", o.d_input = 1;
  } else {
    o.head = "lm";  // per-position logits; the targets say which positions count
  }
  o.tie_embeddings = c.boolean("model.tie_embeddings");
  o.s4.bidirectional = c.boolean("model.bidirectional");
  const bool s6_core = o.layer == "s6" || (o.layer == "mamba" && c.string("model.ssm") == "s6");
  if (o.s4.bidirectional && s6_core)
    throw ConfigError(
        "model.bidirectional: only the LTI cores (s4, s4d) have a bidirectional "
        "form; the selective scan (s6) is causal");
  // S4's recurrent form (chunked evaluation) reproduces the kernel of the training length.
  o.s4.l_max = o.s4.bidirectional || is_lra(c) ? 0 : c.integer("task.seq_len");
  o.s4.d_state = c.integer("model.d_state");
  o.s4.init = c.string("model.init");
  o.s4.disc = c.string("model.disc");
  o.s4.dt_min = c.number("model.dt_min");
  o.s4.dt_max = c.number("model.dt_max");
  o.s4.lr = c.number("model.ssm_lr");
  o.s6.d_state = c.integer("model.d_state");
  o.s6.dt_rank = c.integer("model.dt_rank");
  o.s6.dt_min = c.number("model.dt_min");
  o.s6.dt_max = c.number("model.dt_max");
  o.mamba.expand = c.integer("model.expand");
  o.mamba.d_conv = c.integer("model.d_conv");
  o.mamba.ssm = c.string("model.ssm");
  return o;
}

std::vector<optim::ParamGroup> param_groups(const nn::Module& model, double weight_decay) {
  std::vector<optim::ParamGroup> groups;
  std::map<std::pair<double, bool>, size_t> index;  // (own lr or -1, decays) -> group
  for (const nn::NamedParameter& p : model.named_parameters()) {
    auto key = std::make_pair(p.hints.lr.value_or(-1.0), p.hints.weight_decay);
    auto [it, fresh] = index.emplace(key, groups.size());
    if (fresh) {
      optim::ParamGroup g;
      g.lr = p.hints.lr;
      g.weight_decay = p.hints.weight_decay ? weight_decay : 0.0;
      groups.push_back(std::move(g));
    }
    groups[it->second].params.push_back(p.tensor);
    groups[it->second].names.push_back(p.name);
  }
  return groups;
}

optim::Algorithm algorithm(const Config& c) {
  return optim::parse_algorithm(c.string("optim.name"));
}

optim::Hyper hyper(const Config& c) {
  optim::Hyper h;
  h.lr = c.number("optim.lr");
  h.weight_decay = c.number("optim.weight_decay");
  h.beta1 = c.number("optim.beta1");
  h.beta2 = c.number("optim.beta2");
  h.eps = c.number("optim.eps");
  h.momentum = c.number("optim.momentum");
  return h;
}

int64_t total_steps(const Config& c, const data::Dataset& train_set) {
  const int64_t epochs = c.integer("train.epochs");
  if (epochs == 0) return c.integer("train.steps");
  if (train_set.size() == data::kInfinite)
    throw ConfigError(
        fmt::format("train.epochs: {} is an endless stream (no epochs); set "
                    "train.steps instead",
                    c.string("task.name")));
  const int64_t per_epoch = train_set.size() / c.integer("train.batch_size");
  if (per_epoch == 0)
    throw ConfigError(
        fmt::format("train.batch_size: {} is larger than the training split ({} "
                    "examples)",
                    c.integer("train.batch_size"), train_set.size()));
  return epochs * per_epoch;
}

optim::Schedule schedule(const Config& c, int64_t total_steps) {
  optim::Schedule s;
  s.kind = optim::parse_schedule_kind(c.string("optim.schedule"));
  s.warmup_steps = c.integer("optim.warmup_steps");
  s.total_steps = total_steps;
  s.min_factor = c.number("optim.min_lr") / c.number("optim.lr");
  return s;
}

}  // namespace coil::train

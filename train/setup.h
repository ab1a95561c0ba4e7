// From a Config to the objects a run needs: the task's datasets (synthetic or LRA),
// nn::ModelOptions, optimizer parameter groups (from the modules' hints), hyperparameters, the
// step count and the schedule.
#pragma once
#include <memory>
#include <vector>

#include "data/synthetic.h"
#include "nn/model.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/config.h"

namespace coil::train {

// Where examples come from. Synthetic tasks: train is the training stream, val and test are
// both the held-out stream (another Philox key). LRA tasks: the released splits.
enum class Split { train, val, test };

// The split of held-out evaluations (eval.split).
Split heldout_split(const Config& c);

// task.name is one of the lra_* tasks (finite, labelled datasets read from task.root).
bool is_lra(const Config& c);
// The LRA task name without the "lra_" prefix ("listops", ..., "pathx").
std::string lra_task(const Config& c);

// The synthetic task's options; seq_len overrides task.seq_len when positive (length evaluation).
data::TaskOptions task_options(const Config& c, bool heldout, int64_t seq_len = 0);
// The dataset of the config's task for `split`; seq_len as task_options (synthetic tasks only:
// an LRA task's lengths are its data's). Throws ConfigError for an LRA task without task.root,
// coil::Error naming the expected layout when the data is not there.
std::shared_ptr<data::Dataset> make_dataset(const Config& c, Split split, int64_t seq_len = 0);

// The model for `task`: its vocabulary, and for LRA a pooled classifier head over
// task.num_classes() classes, pixels (image, pathfinder, pathx) through Linear(1, H) as in S4.
nn::ModelOptions model_options(const Config& c, const data::Dataset& task);
// True when the task's tokens are gray pixels fed to the model as reals.
bool pixel_input(const Config& c);

// Optimizer steps of the run: train.epochs passes over a finite training set (batches per
// epoch without the short last one), else train.steps.
int64_t total_steps(const Config& c, const data::Dataset& train_set);

// One group per distinct (own lr, weight decay) among the parameters' hints, parameters named
// as in the model's state dict, in registration order.
std::vector<optim::ParamGroup> param_groups(const nn::Module& model, double weight_decay);
optim::Algorithm algorithm(const Config& c);
optim::Hyper hyper(const Config& c);
optim::Schedule schedule(const Config& c, int64_t total_steps);

}  // namespace coil::train

// Configs: typed keys with defaults, errors that name file, line and key, dotted overrides, the
// resolved YAML that reads back to the same config, and the resume-relevant hash.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "train/config.h"

using namespace coil::train;

TEST_CASE("a config file sets keys by section; the rest keep their declared defaults") {
  Config c = Config::parse("task:\n  name: mqar\n  seq_len: 128\noptim:\n  lr: 3e-4\n", "x.yaml");
  CHECK(c.string("task.name") == "mqar");
  CHECK(c.integer("task.seq_len") == 128);
  CHECK(c.number("optim.lr") == 3e-4);
  CHECK(c.integer("model.d_model") == Config().integer("model.d_model"));
  CHECK(c.boolean("task.random_non_queries"));
}

TEST_CASE("errors name the file, the line and the key") {
  auto err = [](const std::string& yaml) {
    try {
      Config::parse(yaml, "configs/x.yaml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(err("model:\n  d_model: 8\n  d_state: abc\n") ==
        "configs/x.yaml:3: model.d_state: expected a positive integer, got \"abc\"");
  CHECK(err("model:\n  d_stat: 8\n") ==
        "configs/x.yaml:2: model.d_stat: unknown key (did you mean model.d_state?)");
  CHECK(err("optim:\n  lr: -1\n") ==
        "configs/x.yaml:2: optim.lr: expected a positive number, got \"-1\"");
  CHECK(err("optim:\n  beta1: 1.5\n") ==
        "configs/x.yaml:2: optim.beta1: expected a number in [0, 1], got \"1.5\"");
  CHECK(err("model:\n  norm: group\n") ==
        "configs/x.yaml:2: model.norm: expected one of \"rms\", \"layer\", \"batch\", got "
        "\"group\"");
  CHECK(err("train:\n  steps: 2.5\n").find("x.yaml:2: train.steps: expected a positive integer") !=
        std::string::npos);
  CHECK(err("train: 3\n") ==
        "configs/x.yaml:1: train: expected a section (a map of keys), got \"3\"");
  CHECK(err("eval:\n  lengths: [64, -2]\n") ==
        "configs/x.yaml:2: eval.lengths: expected a list of integers in [1, 268435456], got "
        "\"-2\" in the list");
  CHECK(err("model:\n  prenorm: maybe\n") ==
        "configs/x.yaml:2: model.prenorm: expected true or false, got \"maybe\"");
  CHECK(err("task:\n  vocab: 16\n  vocab: 32\n") ==
        "configs/x.yaml:3: task.vocab: set twice (first at line 2)");
  CHECK(err("task: [1\n").find("configs/x.yaml:") == 0);
  CHECK(err("- 1\n- 2\n").find("expected a map of sections") != std::string::npos);
}

TEST_CASE("dotted overrides replace file values and are checked like them") {
  Config c = Config::parse("optim:\n  lr: 0.01\n", "x.yaml",
                           {"optim.lr=3e-4", "model.n_layer=4", "eval.lengths=[64,128]"});
  CHECK(c.number("optim.lr") == 3e-4);
  CHECK(c.integer("model.n_layer") == 4);
  CHECK(c.int_list("eval.lengths") == std::vector<int64_t>{64, 128});
  CHECK_THROWS_WITH_AS(c.apply_override("model.d_state=abc"),
                       "override \"model.d_state=abc\": model.d_state: expected a positive "
                       "integer, got \"abc\"",
                       ConfigError);
  CHECK_THROWS_WITH_AS(c.apply_override("model.d_state"), doctest::Contains("expected key=value"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(c.apply_override("modl.d_state=3"), doctest::Contains("unknown key"),
                       ConfigError);
}

TEST_CASE("the resolved YAML reads back to an equal config with the same hash") {
  Config c = Config::parse("task:\n  name: induction_heads\n", "x.yaml",
                           {"optim.lr=0.1", "optim.eps=1e-12", "eval.lengths=[4,8]",
                            "eval.checkpoint=step 5.safetensors", "model.dropout=0.25"});
  Config back = Config::parse(c.to_yaml(), "config.yaml");
  CHECK(back == c);
  CHECK(back.hash() == c.hash());
  CHECK(back.string("eval.checkpoint") == "step 5.safetensors");
}

TEST_CASE("the hash and differences ignore keys that cannot change the run") {
  Config a;
  Config b = a;
  b.apply_override("train.log_every=7");
  b.apply_override("train.eval_every=3");
  CHECK(a.hash() == b.hash());
  CHECK(b.differences(a, true).empty());
  CHECK(b.differences(a, false) == std::vector<std::string>{"train.eval_every", "train.log_every"});
  b.apply_override("optim.lr=0.5");
  CHECK(a.hash() != b.hash());
  CHECK(b.differences(a, true) == std::vector<std::string>{"optim.lr"});
}

TEST_CASE("a missing config file is an error naming it") {
  CHECK_THROWS_WITH_AS(Config::load("/nonexistent/dir/c.yaml"),
                       "/nonexistent/dir/c.yaml: cannot read the config file: No such file or "
                       "directory",
                       ConfigError);
}

// Run configuration: YAML files with sections task, model, optim, train, eval, overridden by
// dotted keys (`optim.lr=3e-4`). Every key is declared once (config_schema.cpp) with its type,
// default and range; anything else stops before any work with "file:line: key: what is wrong".
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"

namespace coil::train {

// A bad config (file, key, type or value): the CLI exits with status 2 on it.
class ConfigError : public Error {
 public:
  using Error::Error;
};

enum class KeyType { integer, number, boolean, string, int_list };

struct KeySpec {
  std::string key;  // "model.d_state"
  KeyType type;
  std::string default_value;         // as YAML text
  double min = 0, max = 0;           // integer / number / int_list elements: inclusive range
  bool min_exclusive = false;        // number: (min, max]
  std::vector<std::string> choices;  // string: the allowed values (empty = any)
  // True when changing the key cannot change the weights a run reaches (logging, evaluation,
  // checkpoint cadence): resuming with a different value is allowed.
  bool resume_safe = false;
  std::string help;
};

// Every key, in the order the resolved config is written.
const std::vector<KeySpec>& config_schema();
const KeySpec* find_key(const std::string& key);

using ConfigValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>>;

class Config {
 public:
  // All defaults.
  Config();
  // Reads `path` (every key optional), then applies `overrides` ("a.b=value", value as YAML).
  // Throws ConfigError naming the file, the line and the key.
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  // Parses YAML text as if it were the file `source_name`.
  static Config parse(const std::string& yaml, const std::string& source_name,
                      const std::vector<std::string>& overrides = {});
  void apply_override(const std::string& assignment);

  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool boolean(const std::string& key) const;
  const std::string& string(const std::string& key) const;
  const std::vector<int64_t>& int_list(const std::string& key) const;
  const ConfigValue& value(const std::string& key) const;
  std::string value_text(const std::string& key) const;  // as written in the resolved YAML

  // The resolved config as YAML (every key, by section); loading it gives an equal Config.
  std::string to_yaml() const;
  // 16 hex digits over every key that is not resume_safe: equal hashes, same run.
  std::string hash() const;
  // Keys whose values differ; only those that are not resume_safe when `unsafe_only`.
  std::vector<std::string> differences(const Config& other, bool unsafe_only) const;
  bool operator==(const Config& o) const { return values_ == o.values_; }

 private:
  void set_from_node(const std::string& key, const void* node, const std::string& where);
  std::vector<ConfigValue> values_;  // parallel to config_schema()
};

}  // namespace coil::train

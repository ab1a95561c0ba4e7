// Config loading: YAML walk with line numbers, typed and range-checked values, dotted overrides,
// the resolved YAML and the hash of what decides a run.
#include "train/config.h"

// yaml-cpp 0.7's node headers trip GCC 12's -Wdangling-pointer (a false positive in its
// iterator code); silence it for the library's headers only.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <yaml-cpp/yaml.h>
#pragma GCC diagnostic pop

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace coil::train {
namespace {

constexpr double kHuge = 1e15;  // a bound this large is "no upper bound" in messages

[[noreturn]] void fail(const std::string& where, const std::string& key, const std::string& what) {
  throw ConfigError(key.empty() ? fmt::format("{}: {}", where, what)
                                : fmt::format("{}: {}: {}", where, key, what));
}

std::string fmt_bound(double x) {
  return std::abs(x) < 1e15 && x == std::floor(x) ? fmt::format("{}", int64_t(x))
                                                  : fmt::format("{}", x);
}

// What a value of this key must look like, for messages.
std::string expectation(const KeySpec& s) {
  switch (s.type) {
    case KeyType::integer:
    case KeyType::int_list: {
      std::string what = s.type == KeyType::integer ? "an integer" : "a list of integers";
      std::string plural = s.type == KeyType::integer ? "integer" : "integers";
      std::string article = s.type == KeyType::integer ? "a " : "a list of ";
      if (s.max >= kHuge && s.min == 1) return article + "positive " + plural;
      if (s.max >= kHuge && s.min == 0) return article + "non-negative " + plural;
      if (s.max >= kHuge) return fmt::format("{} >= {}", what, fmt_bound(s.min));
      return fmt::format("{} in [{}, {}]", what, fmt_bound(s.min), fmt_bound(s.max));
    }
    case KeyType::number:
      if (s.max >= kHuge && s.min == 0)
        return s.min_exclusive ? "a positive number" : "a non-negative number";
      return fmt::format("a number in {}{}, {}]", s.min_exclusive ? "(" : "[", fmt_bound(s.min),
                         fmt_bound(s.max));
    case KeyType::boolean:
      return "true or false";
    case KeyType::string: {
      if (s.choices.empty()) return "a string";
      std::string out = "one of";
      for (size_t i = 0; i < s.choices.size(); ++i)
        out += fmt::format("{} \"{}\"", i ? "," : "", s.choices[i]);
      return out;
    }
  }
  return "";
}

std::string shown(const YAML::Node& n) {
  if (!n || n.IsNull()) return "nothing";
  if (n.IsScalar()) return fmt::format("\"{}\"", n.Scalar());
  return n.IsSequence() ? "a list" : "a map";
}

bool parse_int(const std::string& text, int64_t& out) {
  const char* b = text.data();
  const char* e = b + text.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && p == e && b != e;
}

bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(out);
}

bool in_range(const KeySpec& s, double x) {
  bool lo = s.min_exclusive ? x > s.min : x >= s.min;
  return lo && x <= s.max;
}

// Converts a YAML node to the key's value, or explains why not.
ConfigValue convert(const KeySpec& s, const YAML::Node& n, const std::string& where) {
  auto bad = [&]() -> ConfigValue {
    fail(where, s.key, fmt::format("expected {}, got {}", expectation(s), shown(n)));
  };
  if (s.type == KeyType::int_list) {
    if (!n.IsSequence()) return bad();
    std::vector<int64_t> out;
    for (const YAML::Node& e : n) {
      int64_t v = 0;
      if (!e.IsScalar() || !parse_int(e.Scalar(), v) || !in_range(s, double(v))) {
        fail(where, s.key,
             fmt::format("expected {}, got {} in the list", expectation(s), shown(e)));
      }
      out.push_back(v);
    }
    return out;
  }
  if (!n.IsScalar()) return bad();
  const std::string& t = n.Scalar();
  switch (s.type) {
    case KeyType::integer: {
      int64_t v = 0;
      if (!parse_int(t, v) || !in_range(s, double(v))) return bad();
      return v;
    }
    case KeyType::number: {
      double v = 0;
      if (!parse_number(t, v) || !in_range(s, v)) return bad();
      return v;
    }
    case KeyType::boolean:
      if (t == "true" || t == "True" || t == "yes" || t == "on") return true;
      if (t == "false" || t == "False" || t == "no" || t == "off") return false;
      return bad();
    case KeyType::string:
      if (!s.choices.empty() && std::find(s.choices.begin(), s.choices.end(), t) == s.choices.end())
        return bad();
      return t;
    default:
      return bad();
  }
}

size_t index_of(const std::string& key) {
  const auto& schema = config_schema();
  for (size_t i = 0; i < schema.size(); ++i)
    if (schema[i].key == key) return i;
  throw ConfigError(fmt::format("[config] no key named {}", key));
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_key_message(const std::string& key) {
  std::string best;
  size_t best_d = 4;
  for (const KeySpec& s : config_schema()) {
    size_t d = edit_distance(key, s.key);
    if (d < best_d) best_d = d, best = s.key;
  }
  return best.empty() ? "unknown key" : fmt::format("unknown key (did you mean {}?)", best);
}

bool is_section(const std::string& prefix) {
  for (const KeySpec& s : config_schema())
    if (s.key.rfind(prefix + ".", 0) == 0) return true;
  return false;
}

std::string yaml_scalar(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
          c == '/'))
      plain = false;
  if (plain) {  // a plain scalar that YAML would read as a number or bool must be quoted
    int64_t i;
    double d;
    if (parse_int(s, i) || parse_number(s, d) || s == "true" || s == "false" || s == "null")
      plain = false;
  }
  if (plain) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

const KeySpec* find_key(const std::string& key) {
  for (const KeySpec& s : config_schema())
    if (s.key == key) return &s;
  return nullptr;
}

Config::Config() {
  for (const KeySpec& s : config_schema())
    values_.push_back(convert(s, YAML::Load(s.default_value), "default"));
}

void Config::set_from_node(const std::string& key, const void* node, const std::string& where) {
  const KeySpec* s = find_key(key);
  if (!s) fail(where, key, unknown_key_message(key));
  values_[index_of(key)] = convert(*s, *static_cast<const YAML::Node*>(node), where);
}

Config Config::parse(const std::string& yaml, const std::string& source,
                     const std::vector<std::string>& overrides) {
  Config c;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    fail(fmt::format("{}:{}", source, e.mark.line + 1), "", "YAML syntax error: " + e.msg);
  }
  std::map<std::string, int> first_line;
  // Depth-first walk; maps are sections, everything else is a value.
  auto walk = [&](auto&& self, const YAML::Node& map, const std::string& prefix) -> void {
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node& k = it->first;
      const YAML::Node& v = it->second;
      int line = k.Mark().line + 1;
      std::string where = fmt::format("{}:{}", source, line);
      std::string key = prefix.empty() ? k.Scalar() : prefix + "." + k.Scalar();
      auto [seen, fresh] = first_line.emplace(key, line);
      if (!fresh) fail(where, key, fmt::format("set twice (first at line {})", seen->second));
      if (v.IsMap()) {
        if (find_key(key))
          fail(where, key, fmt::format("expected {}, got a map", expectation(*find_key(key))));
        if (!is_section(key)) fail(where, key, unknown_key_message(key));
        self(self, v, key);
      } else {
        if (!find_key(key) && is_section(key))
          fail(where, key, fmt::format("expected a section (a map of keys), got {}", shown(v)));
        c.set_from_node(key, &v, where);
      }
    }
  };
  if (root.IsDefined() && !root.IsNull()) {
    if (!root.IsMap())
      fail(fmt::format("{}:{}", source, root.Mark().line + 1), "",
           "expected a map of sections (task, model, optim, train, eval)");
    walk(walk, root, "");
  }
  for (const std::string& o : overrides) c.apply_override(o);
  return c;
}

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  // A directory opens as a stream on Linux and reads as empty: an all-defaults run.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(path, "", "cannot read the config file: it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "", fmt::format("cannot read the config file: {}", std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad())
    fail(path, "", fmt::format("cannot read the config file: {}", std::strerror(errno)));
  return parse(text.str(), path, overrides);
}

void Config::apply_override(const std::string& assignment) {
  size_t eq = assignment.find('=');
  std::string where = fmt::format("override \"{}\"", assignment);
  if (eq == std::string::npos || eq == 0)
    fail(where, "", "expected key=value (e.g. optim.lr=3e-4)");
  std::string key = assignment.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    fail(where, key, "YAML syntax error: " + e.msg);
  }
  if (!find_key(key) && is_section(key)) fail(where, key, "is a section; set one of its keys");
  set_from_node(key, &value, where);
}

const ConfigValue& Config::value(const std::string& key) const { return values_[index_of(key)]; }

template <class T>
static const T& get_as(const Config& c, const std::string& key) {
  const T* v = std::get_if<T>(&c.value(key));
  COIL_CHECK(v, "[config] key {} has another type", key);
  return *v;
}
int64_t Config::integer(const std::string& key) const { return get_as<int64_t>(*this, key); }
double Config::number(const std::string& key) const { return get_as<double>(*this, key); }
bool Config::boolean(const std::string& key) const { return get_as<bool>(*this, key); }
const std::string& Config::string(const std::string& key) const {
  return get_as<std::string>(*this, key);
}
const std::vector<int64_t>& Config::int_list(const std::string& key) const {
  return get_as<std::vector<int64_t>>(*this, key);
}

std::string Config::value_text(const std::string& key) const {
  const ConfigValue& v = value(key);
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    std::string s = fmt::format("{}", *d);  // shortest text that reads back to the same double
    return s.find_first_of(".en") == std::string::npos ? s + ".0" : s;
  }
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* s = std::get_if<std::string>(&v)) return yaml_scalar(*s);
  std::string out = "[";
  for (int64_t x : std::get<std::vector<int64_t>>(v))
    out += (out.size() > 1 ? ", " : "") + std::to_string(x);
  return out + "]";
}

std::string Config::to_yaml() const {
  std::string out, section;
  for (const KeySpec& s : config_schema()) {
    std::string sec = s.key.substr(0, s.key.find('.'));
    if (sec != section) {
      out += sec + ":\n";
      section = sec;
    }
    out += fmt::format("  {}: {}\n", s.key.substr(sec.size() + 1), value_text(s.key));
  }
  return out;
}

std::string Config::hash() const {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (const KeySpec& s : config_schema()) {
    if (s.resume_safe) continue;
    for (char c : s.key + "=" + value_text(s.key) + "\n") {
      h ^= uint8_t(c);
      h *= 0x100000001b3ull;
    }
  }
  return fmt::format("{:016x}", h);
}

std::vector<std::string> Config::differences(const Config& other, bool unsafe_only) const {
  std::vector<std::string> out;
  const auto& schema = config_schema();
  for (size_t i = 0; i < schema.size(); ++i)
    if (values_[i] != other.values_[i] && !(unsafe_only && schema[i].resume_safe))
      out.push_back(schema[i].key);
  return out;
}

}  // namespace coil::train

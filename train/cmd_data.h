// `coil data listops|pathfinder`: the LRA generators (data/lra/generate.h) as subcommands.
#pragma once
#include <memory>

namespace CLI {
class App;
}

namespace coil::train {

// The `data` subcommand, registered on the app before parsing; after parsing, run() does the
// work when it was chosen and returns the exit status (0 done, 2 usage error, 1 failure).
class DataCommands {
 public:
  explicit DataCommands(CLI::App& app);
  ~DataCommands();
  bool parsed() const;
  int run() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace coil::train

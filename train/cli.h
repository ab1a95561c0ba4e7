// The `coil` command line: train, eval, plot and info subcommands (CLI11). Exit status 0 on
// success, 2 on a usage or config error, 1 on a failure during the run.
#pragma once

namespace coil::train {

int run_cli(int argc, char** argv);

}  // namespace coil::train

// The `coil` command: train, eval, plot, info (train/cli.cpp).
#include "train/cli.h"

int main(int argc, char** argv) { return coil::train::run_cli(argc, argv); }

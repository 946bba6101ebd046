// main.cc — the dgm executable: everything is in run_main (src/cli/common.cc).
#include "commands.h"

int main(int argc, char** argv) { return dgm::cli::run_main(argc, argv); }

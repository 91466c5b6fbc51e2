// kappa generate: a synthetic problem written to HDF5 in the seed's layout.
#include <iostream>

#include "cli.hpp"

namespace kappa::cli {

int run_generate(int argc, char** argv) {
  std::string spec;
  std::string output;
  DatasetPaths paths;
  po::options_description options("generate options");
  options.add_options()
    ("synthetic", po::value(&spec)->required()->value_name("SPEC"),
     "what to generate, e.g. 'seedlike', 'kind=kernel,kernel=laplacian,n=400,width=0.2', "
     "'kind=spectrum,n=500,d=100,cond=1e8,profile=geometric,noise=1e-3'")
    ("output,o", po::value(&output)->required()->value_name("FILE"), "HDF5 file to write")
    ("x-train", po::value(&paths.X_train)->default_value(paths.X_train)->value_name("PATH"), "dataset of the training design")
    ("y-train", po::value(&paths.y_train)->default_value(paths.y_train)->value_name("PATH"), "dataset of the training targets")
    ("x-test", po::value(&paths.X_test)->default_value(paths.X_test)->value_name("PATH"), "dataset of the test design")
    ("y-test", po::value(&paths.y_test)->default_value(paths.y_test)->value_name("PATH"), "dataset of the test targets");
  if (!parse_command_line(argc, argv, "usage: kappa generate --synthetic SPEC --output FILE", options, nullptr,
                          "SPEC is comma-separated key=value pairs after kind=spectrum, kind=kernel or seedlike; the keys\n"
                          "of each kind (default in parentheses):\n" + synthetic_spec_help()))
    return 0;

  require_writable(output);
  const Dataset data = generate_from_spec(spec);
  write_hdf5(data, output, paths);
  std::cout << "wrote " << output << ": train " << data.X_train.n_rows << " x " << data.X_train.n_cols << ", test "
            << data.X_test.n_rows << " x " << data.X_test.n_cols << " (" << spec << ")\n";
  return 0;
}

}  // namespace kappa::cli

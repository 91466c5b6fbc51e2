#pragma once
// kappa reports every problem as an exception derived from kappa::Error. Its message is one
// line that names the thing at fault (file, dataset, key, value) and the reason; the kappa
// command prints it as "kappa <command>: <message>" and exits non-zero.

#include <stdexcept>
#include <string>

namespace kappa {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad user input: options, parameter values, specifications.
class InputError : public Error {
 public:
  using Error::Error;
};

// Data files and data contents (missing datasets, shapes, NaN/Inf).
class DataError : public Error {
 public:
  using Error::Error;
};

// A plugin that cannot be loaded or that misbehaves.
class PluginError : public Error {
 public:
  using Error::Error;
};

// A numerical method that cannot deliver (singular system, unsupported problem).
class NumericalError : public Error {
 public:
  using Error::Error;
};

}  // namespace kappa

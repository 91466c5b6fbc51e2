#pragma once
// Private to libkappa: the HDF5 C API plumbing shared by the data files (data_hdf5.cpp) and the
// study results (study_results.cpp): owned identifiers, a silenced error stack, and a
// temporary file removed unless released (for writes through a temporary file and rename).

#include <hdf5.h>

#include <cstdio>
#include <string>
#include <utility>

namespace kappa::hdf5 {

// Owns one HDF5 identifier and releases it with the matching H5?close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);

  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(other.closer_) {}
  Handle& operator=(Handle&&) = delete;
  ~Handle() { close(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

  // Releases the identifier now; false when HDF5 reports an error (for a file: a failed flush).
  bool close() {
    if (id_ < 0) return true;
    const herr_t status = closer_(id_);
    id_ = H5I_INVALID_HID;
    return status >= 0;
  }

 private:
  hid_t id_;
  Closer closer_;
};

// Silences HDF5's automatic error-stack printing while kappa reads or writes (its failures
// become one-line errors) and restores the handler found on entry, so that other HDF5 code
// in the process keeps its own error reporting.
class SilencedErrors {
 public:
  SilencedErrors() {
    saved_ = H5Eget_auto2(H5E_DEFAULT, &function_, &data_) >= 0;
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  SilencedErrors(const SilencedErrors&) = delete;
  SilencedErrors& operator=(const SilencedErrors&) = delete;
  ~SilencedErrors() {
    if (saved_) H5Eset_auto2(H5E_DEFAULT, function_, data_);
  }

 private:
  H5E_auto2_t function_ = nullptr;
  void* data_ = nullptr;
  bool saved_ = false;
};

// Removes a temporary file on scope exit unless released.
class TemporaryFile {
 public:
  explicit TemporaryFile(std::string name) : name_(std::move(name)) {}
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile() {
    if (!released_) std::remove(name_.c_str());
  }
  const std::string& name() const { return name_; }
  void release() { released_ = true; }

 private:
  std::string name_;
  bool released_ = false;
};

}  // namespace kappa::hdf5

#pragma once
// Messages between kappa's own processes (a study's ranks, task processes): native-endian
// fields, strings as a uint64 length and their bytes. Both ends are the same build of kappa
// on the same machine architecture, so there is no versioning beyond a caller's magic number.

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include <vector>

#include "kappa/error.hpp"
#include "kappa/monitor.hpp"

namespace kappa {

class ByteWriter {
 public:
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void put(const std::string& text) {
    put(static_cast<std::uint64_t>(text.size()));
    bytes_ += text;
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

// Throws kappa::Error "malformed <what> (truncated)" when the bytes end early.
class ByteReader {
 public:
  ByteReader(const std::string& bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + at_, sizeof value);
    at_ += sizeof value;
    return value;
  }
  std::string text() {
    const auto size = get<std::uint64_t>();
    need(size);
    std::string value = bytes_.substr(at_, size);
    at_ += size;
    return value;
  }
  template <class T>
  void read(T& value) {
    value = get<T>();
  }
  void read(std::string& value) { value = text(); }
  bool done() const { return at_ == bytes_.size(); }
  std::size_t left() const { return bytes_.size() - at_; }
  [[noreturn]] void fail(const std::string& reason) const { throw Error("malformed " + what_ + " (" + reason + ")"); }

 private:
  void need(std::uint64_t size) const {
    if (size > bytes_.size() - at_) fail("truncated");
  }
  const std::string& bytes_;
  std::string what_;
  std::size_t at_ = 0;
};

// A convergence trace: its length, then per point the iteration and five reals.
inline void put_trace(ByteWriter& out, const std::vector<TracePoint>& trace) {
  out.put(static_cast<std::uint64_t>(trace.size()));
  for (const TracePoint& point : trace) {
    out.put(static_cast<long long>(point.iteration));
    for (double value : {point.seconds, point.data_passes, point.loss, point.grad_norm, point.relative_weight_error}) out.put(value);
  }
}
inline std::vector<TracePoint> get_trace(ByteReader& in) {
  const auto points = in.get<std::uint64_t>();
  if (points > in.left()) in.fail("trace length");
  std::vector<TracePoint> trace(points);
  for (TracePoint& point : trace) {
    point.iteration = static_cast<long>(in.get<long long>());
    for (double* value : {&point.seconds, &point.data_passes}) *value = in.get<double>();
    for (real* value : {&point.loss, &point.grad_norm, &point.relative_weight_error}) *value = in.get<double>();
  }
  return trace;
}

}  // namespace kappa

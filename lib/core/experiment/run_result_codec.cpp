// RunResult as bytes, for a run made in a task process (experiment.hpp).
#include <cstdint>

#include "core/experiment/byte_codec.hpp"
#include "core/experiment/experiment.hpp"

namespace kappa {
namespace {

constexpr std::uint32_t kRunResultMagic = 0x4b525232;  // "KRR2": with setup_passes

// The reals of an Evaluation, in one order for both directions.
template <class E, class F>
void visit_evaluation(E& e, F&& f) {
  for (auto* value : {&e.train_loss, &e.loss_gap, &e.relative_weight_error, &e.relative_weight_error_range, &e.weight_norm,
                      &e.test_mae, &e.test_rmse})
    f(*value);
}

}  // namespace

std::string encode_run_result(const RunResult& r) {
  ByteWriter out;
  out.put(kRunResultMagic);
  out.put(r.optimizer);
  out.put(static_cast<std::int32_t>(r.status));
  out.put(r.message);
  out.put(static_cast<long long>(r.iterations));
  out.put(r.data_passes);
  out.put(r.setup_passes);
  out.put(r.seconds);
  out.put(static_cast<double>(r.grad_norm));
  out.put(static_cast<std::uint8_t>(r.input_error));
  out.put(static_cast<std::uint64_t>(r.w.n_elem));
  for (const real value : r.w) out.put(static_cast<double>(value));
  visit_evaluation(r.evaluation, [&out](const real& value) { out.put(static_cast<double>(value)); });
  put_trace(out, r.trace);
  return out.take();
}

RunResult decode_run_result(const std::string& bytes) {
  ByteReader in(bytes, "run result message");
  if (in.get<std::uint32_t>() != kRunResultMagic) in.fail("bad magic");
  RunResult r;
  r.optimizer = in.text();
  const auto status = in.get<std::int32_t>();
  const std::vector<Status> statuses = all_statuses();
  if (status < 0 || static_cast<std::size_t>(status) >= statuses.size()) in.fail("status");
  r.status = static_cast<Status>(status);
  r.message = in.text();
  r.iterations = static_cast<long>(in.get<long long>());
  r.data_passes = in.get<double>();
  r.setup_passes = in.get<double>();
  r.seconds = in.get<double>();
  r.grad_norm = in.get<double>();
  r.input_error = in.get<std::uint8_t>() != 0;
  const auto size = in.get<std::uint64_t>();
  if (size > in.left() / sizeof(double)) in.fail("weights");
  r.w.set_size(static_cast<arma::uword>(size));
  for (real& value : r.w) value = in.get<double>();
  visit_evaluation(r.evaluation, [&in](real& value) { value = in.get<double>(); });
  r.trace = get_trace(in);
  if (!in.done()) in.fail("trailing bytes");
  return r;
}

}  // namespace kappa

// The results schema (study/schema.hpp): its column specs, CSV fields and outcome messages.

#include "study/schema.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kappa/error.hpp"
#include "core/experiment/byte_codec.hpp"

namespace kappa {
namespace {

// Every outcome column names exactly one member, of its type.
constexpr bool outcome_fields_are_consistent() {
  for (const OutcomeField& field : kOutcomeFields) {
    const int members = (field.integer != nullptr) + (field.real != nullptr) + (field.text != nullptr);
    if (members != 1) return false;
    if ((field.type == ColumnType::integer) != (field.integer != nullptr)) return false;
    if ((field.type == ColumnType::real) != (field.real != nullptr)) return false;
  }
  return true;
}
static_assert(outcome_fields_are_consistent(), "kOutcomeFields: each line names one TaskOutcome member of its type");

// ---------------------------------------------------------------------------------------------
// Outcome messages: native-endian fields, strings as length + bytes.

constexpr std::uint32_t kOutcomeMagic = 0x4b534f35;  // "KSO5": the kOutcomeFields of format version 5

using Writer = ByteWriter;

// The outcome message's reader.
class Reader : public ByteReader {
 public:
  explicit Reader(const std::string& bytes) : ByteReader(bytes, "task result message") {}
};

}  // namespace

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

Cell OutcomeField::get(const TaskOutcome& outcome) const {
  Cell cell;
  visit(outcome, [&cell](const auto& value) { cell = value; });
  return cell;
}

void OutcomeField::set(TaskOutcome& outcome, const Cell& cell) const {
  visit(outcome, [&cell](auto& value) { value = std::get<std::decay_t<decltype(value)>>(cell); });
}

const std::vector<ColumnSpec>& outcome_columns() {
  static const std::vector<ColumnSpec> columns = [] {
    std::vector<ColumnSpec> specs;
    for (const OutcomeField& field : kOutcomeFields) specs.push_back({field.name, field.type});
    return specs;
  }();
  return columns;
}

std::string encode_outcome(const TaskOutcome& o) {
  Writer out;
  out.put(kOutcomeMagic);
  out.put(static_cast<std::uint64_t>(o.task));
  out.put(o.key);
  for (const OutcomeField& field : kOutcomeFields) field.visit(o, [&out](const auto& value) { out.put(value); });
  put_trace(out, o.trace);
  return out.take();
}

TaskOutcome decode_outcome(const std::string& bytes) {
  Reader in(bytes);
  if (in.get<std::uint32_t>() != kOutcomeMagic) throw Error("malformed task result message (bad magic)");
  TaskOutcome o;
  o.task = static_cast<std::size_t>(in.get<std::uint64_t>());
  o.key = in.text();
  for (const OutcomeField& field : kOutcomeFields) field.visit(o, [&in](auto& value) { in.read(value); });
  o.trace = get_trace(in);
  if (!in.done()) throw Error("malformed task result message (trailing bytes)");
  return o;
}

}  // namespace kappa

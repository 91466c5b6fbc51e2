// The results journal (study/journal.hpp) and the checkpoints of StudyResults that use it:
// records round trip, a torn tail is dropped, damage is refused naming the record, a journal of
// another file is ignored, and the file is rewritten only when the journal has grown to its size.
#define BOOST_TEST_MODULE journal
#include <boost/test/unit_test.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/loader/plugin_registry.hpp"
#include "kappa/error.hpp"
#include "study/grid.hpp"
#include "study/journal.hpp"
#include "study/results.hpp"
#include "test_support.hpp"

using namespace kappa;
using kappa::test::require_throws_naming;

namespace {

struct Scratch {
  Scratch() {
    char name[] = "/tmp/kappa_test_journal_XXXXXX";
    BOOST_TEST_REQUIRE(::mkdtemp(name) != nullptr);
    root = name;
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(root, ignored);
  }
  std::string at(const std::string& name) const { return root + "/" + name; }
  std::string root;
};

std::string contents_of(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void overwrite(const std::string& file, const std::string& bytes) { std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes; }

struct Fixture {
  Fixture() {
    registry.load_directories({KAPPA_TEST_PLUGIN_DIR});
    plan = plan_study(parse_grid("optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nmax_iterations = 1 2 3 4 5 6 7 8\n", "j.ini"), registry);
  }
  TaskOutcome outcome(std::size_t task) const {
    TaskOutcome o;
    o.task = task;
    o.key = plan.tasks[task].key;
    o.status = "max-iterations";
    o.message = "row " + std::to_string(task);
    o.iterations = static_cast<long long>(task) + 1;
    o.final_loss = 1.0 / (static_cast<double>(task) + 3.0);
    o.host = "node";
    for (long k = 0; k <= static_cast<long>(task); ++k) o.trace.push_back({k, 0.5 * k, 1.0 * k, 1.0 / (k + 1), 2.0, 0.25});
    return o;
  }
  PluginRegistry registry;
  StudyPlan plan;
  Scratch dir;
};

}  // namespace

BOOST_AUTO_TEST_CASE(crc32_is_the_ieee_crc) {
  BOOST_TEST(crc32("123456789", 9) == 0xCBF43926u);
  BOOST_TEST(crc32("56789", 5, crc32("1234", 4)) == 0xCBF43926u);  // continued
}

BOOST_AUTO_TEST_CASE(records_round_trip_and_a_journal_of_another_id_is_stale) {
  const Scratch dir;
  const std::string file = dir.at("r.h5.journal");
  {
    JournalWriter journal(file, 42);
    journal.append({"first", std::string("with\0zero", 9)});
    journal.append({});
    journal.append({""});
  }
  const JournalContents read = read_journal(file, 42);
  BOOST_TEST(read.matches);
  BOOST_TEST_REQUIRE(read.records.size() == 3u);
  BOOST_TEST(read.records[0] == "first");
  BOOST_TEST(read.records[1] == std::string("with\0zero", 9));
  BOOST_TEST(read.records[2].empty());
  BOOST_TEST(read.torn_bytes == 0u);
  BOOST_TEST(read.valid_bytes == contents_of(file).size());
  BOOST_TEST(!read_journal(file, 43).matches);
  BOOST_TEST(read_journal(file, 43).records.empty());
  BOOST_TEST(!read_journal(dir.at("missing.journal"), 42).matches);
  BOOST_TEST(!std::filesystem::exists(file + ".tmp"));

  const std::vector<Cell> cells{Cell(7LL), Cell(-0.0), Cell(std::string("a,b")), Cell(arma::datum::nan)};
  const JournalRow row = read_journal_payload(journal_payload("outcome", cells));
  BOOST_TEST(row.outcome_bytes == "outcome");
  BOOST_TEST_REQUIRE(row.plan_cells.size() == 4u);
  BOOST_TEST(std::get<long long>(row.plan_cells[0]) == 7);
  BOOST_TEST(std::signbit(std::get<double>(row.plan_cells[1])));
  BOOST_TEST(std::get<std::string>(row.plan_cells[2]) == "a,b");
  BOOST_TEST(std::isnan(std::get<double>(row.plan_cells[3])));
  require_throws_naming<Error>([&] { read_journal_payload(journal_payload("x", cells) + "y"); }, "malformed journal record");
}

BOOST_AUTO_TEST_CASE(a_torn_tail_is_dropped_and_counted) {
  const Scratch dir;
  const std::string file = dir.at("r.h5.journal");
  {
    JournalWriter journal(file, 7);
    journal.append({"one", "two", "three"});
  }
  const std::string whole = contents_of(file);
  // Cut inside the last payload, inside the last record's header, and a tail of zeros.
  for (const std::size_t cut : {std::size_t{2}, std::size_t{5 + 6}}) {
    overwrite(file, whole.substr(0, whole.size() - cut));
    const JournalContents read = read_journal(file, 7);
    BOOST_TEST_REQUIRE(read.records.size() == 2u);
    BOOST_TEST(read.records[1] == "two");
    BOOST_TEST(read.torn_bytes == 12 + 5 - cut);
  }
  overwrite(file, whole + std::string(40, '\0'));
  BOOST_TEST(read_journal(file, 7).records.size() == 3u);
  BOOST_TEST(read_journal(file, 7).torn_bytes == 40u);
}

BOOST_AUTO_TEST_CASE(a_damaged_record_before_the_end_is_refused_naming_its_number_and_offset) {
  const Scratch dir;
  const std::string file = dir.at("r.h5.journal");
  {
    JournalWriter journal(file, 7);
    journal.append({"one", "two", "three"});
  }
  std::string bytes = contents_of(file);
  const std::size_t second = 20 + 12 + 3;  // header, record 1
  bytes[second + 12 + 1] ^= 0x01;            // a payload byte of record 2
  overwrite(file, bytes);
  require_throws_naming<InputError>([&] { read_journal(file, 7); }, {"'" + file + "'", "record 2", "byte offset " + std::to_string(second)});
  bytes[second + 12 + 1] ^= 0x01;
  bytes[second] ^= 0x10;  // its length: caught by the header checksum, not taken for a torn tail
  overwrite(file, bytes);
  require_throws_naming<InputError>([&] { read_journal(file, 7); }, {"record 2", "byte offset " + std::to_string(second)});
  bytes[second] ^= 0x10;
  bytes[bytes.size() - 1] ^= 0x01;  // the last record: a torn write, dropped
  overwrite(file, bytes);
  BOOST_TEST(read_journal(file, 7).records.size() == 2u);
  bytes[3] ^= 0x01;  // the header
  overwrite(file, bytes);
  require_throws_naming<InputError>([&] { read_journal(file, 7); }, {"'" + file + "'", "damaged header"});
}

BOOST_FIXTURE_TEST_CASE(checkpoints_append_and_readers_see_the_journaled_rows, Fixture) {
  const std::string h5 = dir.at("r.h5"), csv = dir.at("r.csv");
  StudyResults results(plan);
  results.set_journal_minimum(100);
  results.add(outcome(5));
  results.write(h5, csv);
  results.add(outcome(1));
  results.add(outcome(3));
  results.checkpoint(h5, csv);
  BOOST_TEST(results.journal_rows() == 2u);
  const ResultsFile read = read_results_file(h5);
  BOOST_TEST_REQUIRE(read.rows.size() == 3u);
  BOOST_TEST(read.journal_rows == 2u);
  const std::size_t task_column = plan.column(PlanColumn::task);
  BOOST_TEST(std::get<long long>(read.rows[1].cells[task_column]) == 1);
  for (const std::size_t r : {std::size_t{1}, std::size_t{2}}) {
    const std::size_t task = static_cast<std::size_t>(std::get<long long>(read.rows[r].cells[task_column]));
    const std::vector<Cell> expected = results.cells(task);
    BOOST_TEST_REQUIRE(read.rows[r].cells.size() == expected.size());
    for (std::size_t c = 0; c < expected.size(); ++c) BOOST_TEST(cell_text(read.rows[r].cells[c]) == cell_text(expected[c]));
    BOOST_TEST(read.rows[r].trace.size() == task + 1);
  }

  // --resume replays the journal, with a torn tail dropped and said; the next write holds every
  // row and trace, and starts an empty journal.
  std::string journal = contents_of(journal_name(h5));
  overwrite(journal_name(h5), journal + journal.substr(20, 30));
  StudyResults resumed(plan);
  resumed.load(h5);
  BOOST_TEST(resumed.size() == 3u);
  BOOST_TEST_REQUIRE(resumed.notes().size() == 1u);
  BOOST_TEST(resumed.notes()[0].find("30 bytes") != std::string::npos);
  BOOST_TEST(!resumed.add(outcome(3)));
  resumed.add(outcome(0));
  resumed.write(h5, csv);
  const ResultsFile consolidated = read_results_file(h5);
  BOOST_TEST(consolidated.rows.size() == 4u);
  BOOST_TEST(consolidated.journal_rows == 0u);
  BOOST_TEST(consolidated.rows[3].trace.size() == 6u);
  BOOST_TEST(contents_of(journal_name(h5)).size() == 20u);

  // A damaged record: load and read_results_file refuse naming the journal.
  resumed.add(outcome(6));
  resumed.add(outcome(7));
  resumed.checkpoint(h5, csv);
  journal = contents_of(journal_name(h5));
  journal[40] ^= 0x04;
  overwrite(journal_name(h5), journal);
  require_throws_naming<InputError>([&] { StudyResults(plan).load(h5); }, {journal_name(h5), "record 1", "byte offset 20"});
  require_throws_naming<InputError>([&] { read_results_file(h5); }, {journal_name(h5), "record 1"});
}

BOOST_FIXTURE_TEST_CASE(a_journal_of_another_generation_or_file_is_ignored, Fixture) {
  const std::string h5 = dir.at("r.h5"), csv = dir.at("r.csv");
  StudyResults results(plan);
  results.add(outcome(0));
  results.write(h5, csv);
  results.add(outcome(1));
  results.checkpoint(h5, csv);  // journal of generation g: task 1
  const std::string stale = contents_of(journal_name(h5));
  results.write(h5, csv);       // generation g + 1 holds tasks 0, 1
  overwrite(journal_name(h5), stale);  // as after a crash between the rename and the new journal
  BOOST_TEST(read_results_file(h5).rows.size() == 2u);
  StudyResults resumed(plan);
  resumed.load(h5);
  BOOST_TEST(resumed.size() == 2u);

  // --force: a new file beside the journal of the old one.
  StudyResults fresh(plan);
  fresh.write(h5, csv);
  overwrite(journal_name(h5), stale);
  BOOST_TEST(read_results_file(h5).rows.empty());
}

BOOST_FIXTURE_TEST_CASE(the_file_is_rewritten_when_the_journal_has_grown_to_its_size, Fixture) {
  const std::string h5 = dir.at("r.h5"), csv = dir.at("r.csv");
  StudyResults results(plan);
  results.set_journal_minimum(2);
  results.checkpoint(h5, csv);  // no journal yet: a write
  BOOST_TEST(read_results_file(h5).rows.empty());
  std::size_t task = 0;
  const auto add = [&](std::size_t count) {
    for (std::size_t k = 0; k < count; ++k) results.add(outcome(task++));
    results.checkpoint(h5, csv);
    const ResultsFile read = read_results_file(h5);
    BOOST_TEST(read.rows.size() == task);
    return read.rows.size() - read.journal_rows;  // rows in the .h5
  };
  BOOST_TEST(add(1) == 0u);  // journal 1 <= max(0, minimum 2)
  BOOST_TEST(results.journal_rows() == 1u);
  BOOST_TEST(add(1) == 0u);  // 2
  BOOST_TEST(add(1) == 3u);  // 3 > 2: rewritten
  BOOST_TEST(results.journal_rows() == 0u);
  BOOST_TEST(add(3) == 3u);  // journal 3 <= 3 rows in the file
  BOOST_TEST(add(1) == 7u);  // 4 > 3
  BOOST_TEST(add(1) == 7u);
  results.write(h5, csv);    // the end: everything in the .h5
  const ResultsFile read = read_results_file(h5);
  BOOST_TEST(read.rows.size() == 8u);
  BOOST_TEST(read.journal_rows == 0u);
}

BOOST_FIXTURE_TEST_CASE(without_a_rewrite_budget_only_appends_and_the_final_write_takes_the_traces_from_the_journal, Fixture) {
  const std::string h5 = dir.at("r.h5"), csv = dir.at("r.csv");
  StudyResults results(plan);
  results.set_journal_minimum(2);
  results.set_rewrite_budget(0);  // a large study: no rewrite is short enough
  results.checkpoint(h5, csv);    // no journal yet: a write, whatever the budget
  for (std::size_t task = 0; task < 8; ++task) {
    results.add(outcome(task));
    // The estimate a caller starts the save early by: at least kAppendSecondsPerRow a row.
    BOOST_TEST(results.estimated_append_seconds() >= StudyResults::kAppendSecondsPerRow);
    results.checkpoint(h5, csv);
    const ResultsFile read = read_results_file(h5);
    BOOST_TEST(read.rows.size() == task + 1);
    BOOST_TEST(read.journal_rows == task + 1, "the file holds none of them: no rewrite");
  }
  BOOST_TEST(results.pending_trace_points() == 0u, "journaled traces are not held in memory");
  results.append_pending();  // nothing new: no record
  BOOST_TEST(results.journal_rows() == 8u);
  results.write(h5, csv);  // the traces come back from the journal
  const ResultsFile read = read_results_file(h5);
  BOOST_TEST_REQUIRE(read.rows.size() == 8u);
  BOOST_TEST(read.journal_rows == 0u);
  const std::size_t message = [&] {
    for (std::size_t c = 0; c < read.columns.size(); ++c)
      if (read.columns[c].name == "message") return c;
    return read.columns.size();
  }();
  BOOST_TEST_REQUIRE(message < read.columns.size());
  for (const ResultsRow& row : read.rows) {
    const std::string& text = std::get<std::string>(row.cells[message]);
    const std::size_t task = std::stoul(text.substr(text.find(' ') + 1));
    const TaskOutcome expected = outcome(task);
    BOOST_TEST_REQUIRE(row.trace.size() == expected.trace.size(), text);
    for (std::size_t k = 0; k < row.trace.size(); ++k) {
      BOOST_TEST(row.trace[k].iteration == expected.trace[k].iteration);
      BOOST_TEST(row.trace[k].loss == expected.trace[k].loss);
      BOOST_TEST(row.trace[k].data_passes == expected.trace[k].data_passes);
    }
  }
}

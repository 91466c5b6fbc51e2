#pragma once
// The results journal: RESULTS.h5.journal, an append-only file of the rows finished since the
// HDF5 file was last rewritten (study/results.hpp). A header ties it to one HDF5 file: both hold
// the same journal id (the .h5 as its attribute `journal_id`), a new random id at every rewrite,
// so that a journal of another file, or of an earlier rewrite of this one, is never replayed.
//
// Layout (header and record framing little-endian; docs/study.md):
//   header  "KAPPAJNL" (8 bytes), id (u64), crc32 of those 16 bytes (u32)
//   record  payload length (u32), crc32 of the payload (u32), crc32 of those 8 bytes (u32), payload
// Appending a batch writes its records and then fdatasync(2)s, so that a batch is on disk when
// append() returns. Reading verifies every record: an incomplete last record (a write cut by
// kill -9) is dropped and counted in torn_bytes; a record that fails its checksum before the end
// of the file is damage, refused naming the file, the record number and its byte offset.
// Nothing here depends on HDF5 or MPI.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "study/schema.hpp"

namespace kappa {

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) of `size` bytes, continuing `crc`.
std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0);

// "<results>.journal".
std::string journal_name(const std::string& results_file);

// A new random journal id (never 0: 0 means "no journal").
std::uint64_t new_journal_id();

struct JournalContents {
  bool matches = false;               // the file exists and its header holds the id asked for
  std::vector<std::string> records;   // the payloads, in file order (empty unless matches)
  std::size_t valid_bytes = 0;        // header and complete records
  std::size_t torn_bytes = 0;         // an incomplete tail, dropped
};

// Reads the journal `file` if it belongs to `id`. A missing file, or a header of another id,
// gives matches = false (a stale journal, ignored). Throws InputError, one line naming the file
// (and the record number and byte offset), for a damaged header or record.
JournalContents read_journal(const std::string& file, std::uint64_t id);

// A record's payload: the row's encode_outcome() bytes (task, key, outcome, trace) followed by the
// row's plan cells, so that a reader without the plan (kappa report) has the whole row. In the
// byte codec of kappa's messages (core/experiment/byte_codec.hpp, native-endian): the outcome
// bytes as a string, the cell count (u64), each cell as a type byte ('i' int64, 'r' float64,
// 't' text) and its value.
std::string journal_payload(const std::string& outcome_bytes, const std::vector<Cell>& plan_cells);
struct JournalRow {
  std::string outcome_bytes;  // for decode_outcome
  std::vector<Cell> plan_cells;
};
// Throws Error for a malformed payload.
JournalRow read_journal_payload(const std::string& payload);

// fsync(2) of a file or a directory (after a rename in it: the rename is durable), so that a
// power loss keeps the order of the writes; throws InputError naming it.
void sync_path(const std::string& path);

// A journal open for appending.
class JournalWriter {
 public:
  // Creates `file` empty (its header) for `id`: written to "<file>.tmp", synced and renamed into
  // place, so that `file` is at every moment either the previous journal or the new one.
  JournalWriter(const std::string& file, std::uint64_t id);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Appends one record per payload, then fdatasync. Throws InputError naming the file when the
  // write fails (disk full): the file then ends with a torn tail, dropped by the next reading,
  // and this writer refuses further appends (the caller rewrites the results instead).
  void append(const std::vector<std::string>& payloads);

  const std::string& file() const { return file_; }
  std::uint64_t id() const { return id_; }
  bool healthy() const { return fd_ >= 0; }

 private:
  std::string file_;
  std::uint64_t id_;
  int fd_ = -1;
};

}  // namespace kappa

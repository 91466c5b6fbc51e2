// The results journal (study/journal.hpp): CRC-32, the header and records, reading and appending.

#include "study/journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <variant>

#include "kappa/error.hpp"
#include "core/experiment/byte_codec.hpp"

namespace kappa {
namespace {

constexpr char kMagic[8] = {'K', 'A', 'P', 'P', 'A', 'J', 'N', 'L'};
constexpr std::size_t kHeaderBytes = 20;
constexpr std::size_t kRecordHeaderBytes = 12;

constexpr auto kCrcTable = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}();

void put32(std::string& out, std::uint32_t value) {
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((value >> (8 * b)) & 0xFF));
}
void put64(std::string& out, std::uint64_t value) {
  put32(out, static_cast<std::uint32_t>(value));
  put32(out, static_cast<std::uint32_t>(value >> 32));
}
std::uint32_t get32(const char* in) {
  std::uint32_t value = 0;
  for (int b = 0; b < 4; ++b) value |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[b])) << (8 * b);
  return value;
}
std::uint64_t get64(const char* in) { return get32(in) | static_cast<std::uint64_t>(get32(in + 4)) << 32; }

std::string header(std::uint64_t id) {
  std::string out(kMagic, sizeof kMagic);
  put64(out, id);
  put32(out, crc32(out.data(), out.size()));
  return out;
}

[[noreturn]] void fail(const std::string& file, const std::string& reason) {
  throw InputError("results journal '" + file + "': " + reason);
}

// Writes all of `bytes` to `fd`; false (errno set) on failure.
bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    done += static_cast<std::size_t>(wrote);
  }
  return true;
}

}  // namespace

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = kCrcTable[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::string journal_name(const std::string& results_file) { return results_file + ".journal"; }

std::uint64_t new_journal_id() {
  std::random_device device;
  std::uint64_t id = (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
                     static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return id == 0 ? 1 : id;
}

JournalContents read_journal(const std::string& file, std::uint64_t id) {
  JournalContents contents;
  std::ifstream in(file, std::ios::binary);
  if (!in || id == 0) return contents;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(file, "cannot be read");
  if (bytes.size() < kHeaderBytes) {
    // A journal is created whole (temporary + rename): a short one was not written by kappa.
    fail(file, "damaged header (" + std::to_string(bytes.size()) + " bytes)");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0 || get32(bytes.data() + 16) != crc32(bytes.data(), 16))
    fail(file, "damaged header (record 0 at byte offset 0)");
  if (get64(bytes.data() + 8) != id) return contents;  // stale: of another results file or rewrite
  contents.matches = true;
  std::size_t offset = kHeaderBytes;
  for (std::size_t record = 1; offset < bytes.size(); ++record) {
    const std::size_t left = bytes.size() - offset;
    const char* at = bytes.data() + offset;
    const auto damaged = [&](const char* what) {
      fail(file, std::string(what) + " in record " + std::to_string(record) + " at byte offset " + std::to_string(offset) +
                     " (the journal is damaged; move it away to resume from the .h5 file alone)");
    };
    if (left < kRecordHeaderBytes) break;  // torn
    if (get32(at + 8) != crc32(at, 8)) {
      // A tail of zeros is a torn write too (a file extended by a crash before its data).
      if (bytes.find_first_not_of('\0', offset) == std::string::npos) break;
      damaged("bad header checksum");
    }
    const std::size_t length = get32(at);
    if (left - kRecordHeaderBytes < length) break;  // torn
    if (crc32(at + kRecordHeaderBytes, length) != get32(at + 4)) {
      if (left - kRecordHeaderBytes == length) break;  // the last record, cut: torn
      damaged("bad checksum");
    }
    contents.records.emplace_back(at + kRecordHeaderBytes, length);
    offset += kRecordHeaderBytes + length;
  }
  contents.valid_bytes = offset;
  contents.torn_bytes = bytes.size() - offset;
  return contents;
}

std::string journal_payload(const std::string& outcome_bytes, const std::vector<Cell>& plan_cells) {
  ByteWriter out;
  out.put(outcome_bytes);
  out.put(static_cast<std::uint64_t>(plan_cells.size()));
  for (const Cell& cell : plan_cells) {
    out.put(static_cast<char>("irt"[cell.index()]));
    std::visit([&out](const auto& value) { out.put(value); }, cell);
  }
  return out.take();
}

JournalRow read_journal_payload(const std::string& payload) {
  ByteReader in(payload, "journal record");
  JournalRow row;
  row.outcome_bytes = in.text();
  const auto cells = in.get<std::uint64_t>();
  if (cells > in.left()) in.fail("cell count");
  for (std::uint64_t c = 0; c < cells; ++c) {
    const char type = in.get<char>();
    if (type == 'i') row.plan_cells.emplace_back(in.get<long long>());
    else if (type == 'r') row.plan_cells.emplace_back(in.get<double>());
    else if (type == 't') row.plan_cells.emplace_back(in.text());
    else in.fail("cell type");
  }
  if (!in.done()) in.fail("trailing bytes");
  return row;
}

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  const std::string reason = std::strerror(errno);
  if (fd >= 0) ::close(fd);
  if (!synced) throw InputError("'" + path + "' cannot be synced to disk (" + reason + ")");
}

JournalWriter::JournalWriter(const std::string& file, std::uint64_t id) : file_(file), id_(id) {
  const std::string temporary = file + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(file, std::string("cannot be created (") + std::strerror(errno) + ")");
  if (!write_all(fd, header(id)) || ::fdatasync(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    std::remove(temporary.c_str());
    fail(file, "cannot be written (" + reason + ")");
  }
  if (std::rename(temporary.c_str(), file.c_str()) != 0) {
    ::close(fd);
    std::remove(temporary.c_str());
    fail(file, "cannot be renamed into place");
  }
  fd_ = fd;  // still refers to the renamed file; O_APPEND not needed: only this writer appends
  ::lseek(fd_, 0, SEEK_END);
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void JournalWriter::append(const std::vector<std::string>& payloads) {
  if (fd_ < 0) fail(file_, "an earlier append failed");
  if (payloads.empty()) return;
  std::string batch;
  for (const std::string& payload : payloads) {
    const std::size_t start = batch.size();
    put32(batch, static_cast<std::uint32_t>(payload.size()));
    put32(batch, crc32(payload.data(), payload.size()));
    put32(batch, crc32(batch.data() + start, 8));
    batch += payload;
  }
  if (!write_all(fd_, batch) || ::fdatasync(fd_) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    fail(file_, "cannot be appended to (" + reason + "; disk full?)");
  }
}

}  // namespace kappa

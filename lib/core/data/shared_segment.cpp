// Read-only data segments shared by the processes of a job on one node (shared_segment.hpp).
#include "core/data/shared_segment.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kappa/error.hpp"

namespace kappa {
namespace {

constexpr const char* kPrefix = "kappa-data-";

std::string system_error(const std::string& what, int error) { return what + ": " + std::strerror(error); }

// flock, retried when a signal interrupts it.
int lock(int fd, int operation) {
  int result = 0;
  do result = ::flock(fd, operation);
  while (result != 0 && errno == EINTR);
  return result;
}

// An exclusive flock on <path>.lock for as long as it lives: creating a segment, mapping it and
// deciding to remove it happen under it, one process at a time.
class CreationLock {
 public:
  explicit CreationLock(const std::string& path) : fd_(::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ < 0) throw Error(system_error("cannot create the lock file '" + path + ".lock' of a shared data segment", errno));
    if (lock(fd_, LOCK_EX) != 0) {
      const int error = errno;
      ::close(fd_);
      throw Error(system_error("cannot lock '" + path + ".lock'", error));
    }
  }
  ~CreationLock() { ::close(fd_); }  // closing releases the flock
  CreationLock(const CreationLock&) = delete;
  CreationLock& operator=(const CreationLock&) = delete;

 private:
  int fd_;
};

// The start time of process `pid` (field 22 of /proc/PID/stat), or 0 if there is none.
unsigned long long start_time(long pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(file, text)) return 0;
  const std::size_t end_of_name = text.rfind(')');  // the command name may hold spaces and ')'
  if (end_of_name == std::string::npos) return 0;
  std::istringstream fields(text.substr(end_of_name + 1));
  std::string field;
  for (int index = 3; index <= 22; ++index)
    if (!(fields >> field)) return 0;
  return std::strtoull(field.c_str(), nullptr, 10);
}

// The files in segment_directory() whose names start with `prefix`, or with kPrefix and whose
// job `remove` says to remove.
std::size_t remove_files(const std::function<bool(const std::string& name)>& remove) {
  DIR* directory = ::opendir(segment_directory());
  if (directory == nullptr) return 0;
  std::size_t removed = 0;
  while (const dirent* entry = ::readdir(directory)) {
    const std::string name = entry->d_name;
    if (name.compare(0, std::strlen(kPrefix), kPrefix) != 0 || !remove(name)) continue;
    if (::unlink((std::string(segment_directory()) + "/" + name).c_str()) == 0) ++removed;
  }
  ::closedir(directory);
  return removed;
}

// The job of a file name kappa-data-<pid>-<start>-<key>...; false if it is not one of ours.
bool job_of(const std::string& name, SegmentJob& job) {
  const std::string rest = name.substr(std::strlen(kPrefix));
  const std::size_t first = rest.find('-');
  const std::size_t second = first == std::string::npos ? first : rest.find('-', first + 1);
  return second != std::string::npos && SegmentJob::parse(rest.substr(0, second), job);
}

}  // namespace

SegmentJob SegmentJob::of_process(long pid) {
  SegmentJob job{pid, start_time(pid)};
  if (job.start == 0) throw Error("no process " + std::to_string(pid) + " on this node (/proc/" + std::to_string(pid) + "/stat)");
  return job;
}

std::string SegmentJob::tag() const { return std::to_string(pid) + "-" + std::to_string(start); }

bool SegmentJob::parse(const std::string& tag, SegmentJob& job) {
  const std::size_t dash = tag.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == tag.size()) return false;
  if (tag.find_first_not_of("0123456789-") != std::string::npos || tag.find('-', dash + 1) != std::string::npos) return false;
  job.pid = std::strtol(tag.substr(0, dash).c_str(), nullptr, 10);
  job.start = std::strtoull(tag.substr(dash + 1).c_str(), nullptr, 10);
  return job.pid > 0 && job.start > 0;
}

bool SegmentJob::alive() const { return start != 0 && start_time(pid) == start; }

const char* segment_directory() { return "/dev/shm"; }

std::shared_ptr<const SharedSegment> SharedSegment::open_or_create(const SegmentJob& job, const std::string& name,
                                                                   const std::function<void(const Allocate&)>& create) {
  const std::string path = std::string(segment_directory()) + "/" + kPrefix + job.tag() + "-" + name;
  const CreationLock creation(path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {  // another process of the node made it
    struct stat info {};
    if (::fstat(fd, &info) != 0 || info.st_size <= 0) {
      const int error = errno;
      ::close(fd);
      throw Error(system_error("cannot read the shared data segment '" + path + "'", error));
    }
    const auto size = static_cast<std::size_t>(info.st_size);
    void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED || lock(fd, LOCK_SH) != 0) {
      const int error = errno;
      if (data != MAP_FAILED) ::munmap(data, size);
      ::close(fd);
      throw Error(system_error("cannot map the shared data segment '" + path + "'", error));
    }
    return std::shared_ptr<const SharedSegment>(new SharedSegment(path, fd, data, size, false));
  }
  if (errno != ENOENT) throw Error(system_error("cannot open the shared data segment '" + path + "'", errno));

  const std::string temporary = path + "." + std::to_string(::getpid()) + ".tmp";
  fd = ::open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(system_error("cannot create the shared data segment '" + temporary + "'", errno));
  void* data = nullptr;
  std::size_t size = 0;
  const auto discard = [&] {
    if (data != nullptr) ::munmap(data, size);
    ::close(fd);
    ::unlink(temporary.c_str());
  };
  try {
    const Allocate allocate = [&](std::size_t bytes) -> void* {
      if (data != nullptr) throw Error("shared data segment '" + temporary + "': allocated twice");
      if (bytes == 0) throw Error("shared data segment '" + temporary + "': nothing to share");
      const int error = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
      if (error != 0)
        throw Error(system_error("cannot reserve " + std::to_string(bytes >> 20) + " MiB for the shared data segment '" +
                                     temporary + "' (use --share-data off, or free " + segment_directory() + ")",
                                 error));
      void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (memory == MAP_FAILED) throw Error(system_error("cannot map the shared data segment '" + temporary + "'", errno));
      data = memory;
      size = bytes;
      return memory;
    };
    create(allocate);
    if (data == nullptr) throw Error("shared data segment '" + temporary + "': nothing was written");
    // Read-only from here on, in this process as in the others.
    if (::mprotect(data, size, PROT_READ) != 0 || lock(fd, LOCK_SH) != 0 || ::rename(temporary.c_str(), path.c_str()) != 0)
      throw Error(system_error("cannot publish the shared data segment '" + path + "'", errno));
  } catch (...) {
    discard();
    throw;
  }
  return std::shared_ptr<const SharedSegment>(new SharedSegment(path, fd, data, size, true));
}

SharedSegment::~SharedSegment() {
  ::munmap(data_, size_);
  try {
    const CreationLock creation(path_);
    // Our shared flock becomes exclusive only if no other process holds one: then nobody maps
    // the segment, and it goes (unless the name already belongs to another file).
    struct stat mine {}, named {};
    if (lock(fd_, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd_, &mine) == 0 && ::stat(path_.c_str(), &named) == 0 &&
        mine.st_ino == named.st_ino && mine.st_dev == named.st_dev)
      ::unlink(path_.c_str());
  } catch (...) {
    // Left for remove_job_segments at the job's end.
  }
  ::close(fd_);
}

std::size_t remove_job_segments(const SegmentJob& job) {
  return remove_files([&](const std::string& name) {
    SegmentJob owner;
    return job_of(name, owner) && owner.pid == job.pid && owner.start == job.start;
  });
}

std::size_t remove_stale_segments() {
  return remove_files([](const std::string& name) {
    SegmentJob owner;
    return job_of(name, owner) && !owner.alive();
  });
}

// ---------------------------------------------------------------- a Dataset in a segment

namespace {

// The segment of a dataset: this header, then at kDataOffset S = X^T (d x n), y (n),
// X_test (test_rows x test_cols, column-major), y_test (test_rows), the source's characters.
struct DatasetHeader {
  char magic[16];
  std::uint64_t samples, features, test_rows, test_cols, source_bytes;
};
constexpr char kMagic[16] = "kappa-dataset-1";
constexpr std::size_t kDataOffset = 4096;  // the values start on a page of their own

std::size_t dataset_bytes(const DatasetHeader& header) {
  const std::size_t values = header.samples * header.features + header.samples + header.test_rows * header.test_cols +
                             header.test_rows;
  return kDataOffset + values * sizeof(real) + header.source_bytes;
}

}  // namespace

SampleLoader whole_dataset_loader(std::function<Dataset()> load) {
  return [load = std::move(load)](const SamplePlacement& place) {
    Dataset data = load();
    {
      Mat S(place(data, data.X_train.n_cols, data.X_train.n_rows), data.X_train.n_cols, data.X_train.n_rows, false, true);
      S = data.X_train.t();  // writes into the placed memory
    }
    data.X_train.reset();
    return data;
  };
}

SharedDataset shared_dataset(const SegmentJob& job, const std::string& key, const SampleLoader& load) {
  if (key.empty() || key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != std::string::npos)
    throw Error("shared data: '" + key + "' is not a segment key");
  const auto segment = SharedSegment::open_or_create(job, key, [&](const SharedSegment::Allocate& allocate) {
    char* bytes = nullptr;
    DatasetHeader header{};
    const Dataset rest = load([&](const Dataset& data, Index features, Index samples) -> real* {
      std::memcpy(header.magic, kMagic, sizeof kMagic);
      header.samples = samples;
      header.features = features;
      header.test_rows = data.X_test.n_rows;
      header.test_cols = data.X_test.n_cols;
      header.source_bytes = data.source.size();
      bytes = static_cast<char*>(allocate(dataset_bytes(header)));
      std::memcpy(bytes, &header, sizeof header);
      return reinterpret_cast<real*>(bytes + kDataOffset);
    });
    if (bytes == nullptr || rest.y_train.n_elem != header.samples || rest.X_test.n_rows != header.test_rows ||
        rest.X_test.n_cols != header.test_cols || rest.source.size() != header.source_bytes)
      throw Error("shared data: the loader of '" + key + "' placed no samples or changed the data after placing them");
    real* values = reinterpret_cast<real*>(bytes + kDataOffset) + header.samples * header.features;
    std::memcpy(values, rest.y_train.memptr(), rest.y_train.n_elem * sizeof(real));
    values += header.samples;
    if (rest.X_test.n_elem > 0) std::memcpy(values, rest.X_test.memptr(), rest.X_test.n_elem * sizeof(real));
    values += header.test_rows * header.test_cols;
    if (rest.y_test.n_elem > 0) std::memcpy(values, rest.y_test.memptr(), rest.y_test.n_elem * sizeof(real));
    values += header.test_rows;
    std::memcpy(values, rest.source.data(), rest.source.size());
  });

  DatasetHeader header{};
  if (segment->size() >= kDataOffset) std::memcpy(&header, segment->data(), sizeof header);
  if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0 || segment->size() != dataset_bytes(header))
    throw Error("shared data segment '" + segment->path() + "' is not a dataset of this kappa");
  const char* bytes = static_cast<const char*>(segment->data());
  const real* values = reinterpret_cast<const real*>(bytes + kDataOffset);
  SharedDataset out;
  out.created = segment->created();
  out.samples = SampleStorage{segment, values, static_cast<Index>(header.features), static_cast<Index>(header.samples)};
  values += header.samples * header.features;
  out.rest.y_train = Vec(values, header.samples);
  values += header.samples;
  if (header.test_rows > 0) {
    out.rest.X_test = Mat(values, header.test_rows, header.test_cols);
    out.rest.y_test = Vec(values + header.test_rows * header.test_cols, header.test_rows);
  }
  values += header.test_rows * header.test_cols + header.test_rows;
  out.rest.source.assign(reinterpret_cast<const char*>(values), header.source_bytes);
  return out;
}

SharedDataset private_dataset(const SampleLoader& load) {
  auto S = std::make_shared<Mat>();
  SharedDataset out;
  out.rest = load([&](const Dataset&, Index features, Index samples) -> real* {
    S->set_size(features, samples);
    return S->memptr();
  });
  out.samples = SampleStorage{S, S->memptr(), S->n_rows, S->n_cols};
  out.created = true;
  return out;
}

}  // namespace kappa

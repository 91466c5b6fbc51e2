#pragma once
// One read-only copy of a problem's data per node (docs/study.md, "One copy of the data per
// node"): the processes of one job on one node (its ranks and their task processes) map the
// same segment, a file in /dev/shm, instead of each loading its own copy.
//
// Names: /dev/shm/kappa-data-<pid>-<start>-<key>, where <pid> and <start> identify the job on
// this node (SegmentJob: the PID of the node's first rank and its start time, so a reused PID
// is not mistaken for the job) and <key> the data. Beside each segment: <name>.lock, the lock
// under which it is created or released, and while it is filled <name>.<pid>.tmp.
// Creation: the first process that asks loads the data and fills a temporary file, made
// read-only and renamed into place; the others wait on the lock and map the result. Every
// process that maps a segment holds a shared flock on it; the last one to let go (the cache
// evicted it, the process ended normally) removes it. What a crash or kill -9 leaves behind is
// removed by remove_job_segments at the job's end or, if the whole job was killed, by
// remove_stale_segments when the next job starts on the node (its job's process is gone).

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/data/dataset.hpp"
#include "core/problems/samples.hpp"

namespace kappa {

// A job on this node: the PID of its first process here and that process's start time (clock
// ticks since boot, /proc/PID/stat).
struct SegmentJob {
  long pid = 0;
  unsigned long long start = 0;

  // The job whose node leader is `pid` (a running process). Throws kappa::Error if it is gone.
  static SegmentJob of_process(long pid);
  // "<pid>-<start>", and back (false for text that is not one).
  std::string tag() const;
  static bool parse(const std::string& tag, SegmentJob& job);
  // Whether its process still runs (same PID and start time).
  bool alive() const;
};

// The directory of the segments.
const char* segment_directory();

// A mapped segment. Destroying it unmaps it, and removes it if no other process maps it.
class SharedSegment {
 public:
  // Allocates the new segment's `bytes` (reserved, so a full /dev/shm fails here, not later
  // with SIGBUS) and returns its memory, writable until create returns.
  using Allocate = std::function<void*(std::size_t bytes)>;

  // The segment `name` of `job`, mapped read-only; if no process has it, made by
  // create(allocate) in this process. Throws kappa::Error naming the file (no space, no
  // /dev/shm, ...), or what create throws (then nothing is left behind).
  static std::shared_ptr<const SharedSegment> open_or_create(const SegmentJob& job, const std::string& name,
                                                             const std::function<void(const Allocate&)>& create);
  ~SharedSegment();
  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;

  const void* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool created() const { return created_; }  // by this process

 private:
  SharedSegment(std::string path, int fd, void* data, std::size_t size, bool created)
      : path_(std::move(path)), fd_(fd), data_(data), size_(size), created_(created) {}
  std::string path_;
  int fd_;
  void* data_;
  std::size_t size_;
  bool created_;
};

// Removes the segments, lock and temporary files of `job` (the node leader, at the job's end).
// Returns how many files it removed.
std::size_t remove_job_segments(const SegmentJob& job);
// Removes those of jobs that no longer run on this node (a job killed as a whole). Returns how
// many files it removed.
std::size_t remove_stale_segments();

// A Dataset whose training design is shared: `rest` holds y_train, the test part and the source
// (private copies; X_train empty), `samples` the design as S = X^T in the segment.
struct SharedDataset {
  Dataset rest;
  SampleStorage samples;
  bool created = false;  // this process loaded the data
};

// Loads a dataset with its training design placed as S = X^T where `place` says (as
// read_hdf5_samples does), and returns the rest.
using SampleLoader = std::function<Dataset(const SamplePlacement& place)>;
// A loader for data that comes whole (synthetic data): X transposed into place, then freed.
SampleLoader whole_dataset_loader(std::function<Dataset()> load);

// The data of `key` (the data's identity within the job: letters, digits, '-' and '_') in the
// segment of `job`, loaded by load() in the first process of the node that asks.
SharedDataset shared_dataset(const SegmentJob& job, const std::string& key, const SampleLoader& load);
// The same layout in this process's own memory (--share-data off): the same values.
SharedDataset private_dataset(const SampleLoader& load);

}  // namespace kappa

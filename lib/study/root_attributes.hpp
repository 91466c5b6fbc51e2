#pragma once
// Every root attribute of a results file, read generically, for the manifest of `kappa report
// --html`: what the file records about how it was made (grid, hash, format version,
// fingerprints, and whatever later versions add) appears without a change here.

#include <string>
#include <utility>
#include <vector>

namespace kappa {

// (name, value as text) in HDF5's name order; numbers in shortest round-trip form, arrays
// as their elements separated by ", ". Throws InputError naming the file when it cannot be read.
std::vector<std::pair<std::string, std::string>> read_root_attributes(const std::string& file);

// The same for the attributes of the group `group` of the file, in their creation order when the
// group tracks it (the manifest does), else in name order. Throws InputError naming the file when
// it cannot be read or has no such group ("... has no group 'manifest'").
std::vector<std::pair<std::string, std::string>> read_group_attributes(const std::string& file, const std::string& group);

}  // namespace kappa

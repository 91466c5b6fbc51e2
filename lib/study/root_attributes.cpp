#include "study/root_attributes.hpp"

#include <hdf5.h>

#include <cstdint>
#include <mutex>

#include "kappa/error.hpp"
#include "study/grid.hpp"
#include "study/results.hpp"

namespace kappa {
namespace {

struct Closer {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Closer() {
    if (id >= 0) close(id);
  }
};

// The value of one attribute as text; "(unreadable)" for a type this reader does not know.
std::string attribute_text(hid_t attribute) {
  const Closer type{H5Aget_type(attribute), H5Tclose};
  const Closer space{H5Aget_space(attribute), H5Sclose};
  if (type.id < 0 || space.id < 0) return "(unreadable)";
  const hssize_t count = H5Sget_simple_extent_npoints(space.id);
  if (count <= 0) return "";
  std::vector<std::string> items;
  const H5T_class_t type_class = H5Tget_class(type.id);
  if (type_class == H5T_INTEGER) {
    std::vector<std::int64_t> values(static_cast<std::size_t>(count));
    if (H5Aread(attribute, H5T_NATIVE_INT64, values.data()) < 0) return "(unreadable)";
    for (auto value : values) items.push_back(std::to_string(value));
  } else if (type_class == H5T_FLOAT) {
    std::vector<double> values(static_cast<std::size_t>(count));
    if (H5Aread(attribute, H5T_NATIVE_DOUBLE, values.data()) < 0) return "(unreadable)";
    for (double value : values) items.push_back(cell_text(Cell{value}));
  } else if (type_class == H5T_STRING && H5Tis_variable_str(type.id) > 0) {
    const Closer memory{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(memory.id, H5T_VARIABLE);
    H5Tset_cset(memory.id, H5Tget_cset(type.id));
    std::vector<char*> values(static_cast<std::size_t>(count), nullptr);
    if (H5Aread(attribute, memory.id, values.data()) < 0) return "(unreadable)";
    for (char* value : values) items.push_back(value ? value : "");
    H5Dvlen_reclaim(memory.id, space.id, H5P_DEFAULT, values.data());
  } else if (type_class == H5T_STRING) {
    const std::size_t size = H5Tget_size(type.id);
    std::vector<char> buffer(size * static_cast<std::size_t>(count) + 1, '\0');
    if (H5Aread(attribute, type.id, buffer.data()) < 0) return "(unreadable)";
    for (hssize_t i = 0; i < count; ++i) {
      const char* start = buffer.data() + static_cast<std::size_t>(i) * size;
      std::string item(start, size);
      item.resize(item.find('\0') == std::string::npos ? size : item.find('\0'));
      items.push_back(item);
    }
  } else {
    return "(unreadable)";
  }
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i) text += (i ? ", " : "") + items[i];
  return text;
}

herr_t collect(hid_t location, const char* name, const H5A_info_t*, void* data) {
  auto& attributes = *static_cast<std::vector<std::pair<std::string, std::string>>*>(data);
  const Closer attribute{H5Aopen(location, name, H5P_DEFAULT), H5Aclose};
  attributes.emplace_back(name, attribute.id < 0 ? "(unreadable)" : attribute_text(attribute.id));
  return 0;
}

}  // namespace

namespace {

// The attributes of the object at `path` ("/" for the root) of `file`, holding hdf5_mutex().
std::vector<std::pair<std::string, std::string>> read_attributes(const std::string& file, const std::string& path) {
  const std::lock_guard<std::mutex> lock(hdf5_mutex());
  const Closer handle{H5Fis_hdf5(file.c_str()) > 0 ? H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID, H5Fclose};
  if (handle.id < 0) throw InputError("results file '" + file + "': not an HDF5 file or cannot be read");
  if (path != "/" && H5Lexists(handle.id, path.c_str(), H5P_DEFAULT) <= 0)
    throw InputError("results file '" + file + "': has no group '" + path + "'");
  const Closer object{path == "/" ? H5I_INVALID_HID : H5Gopen2(handle.id, path.c_str(), H5P_DEFAULT), H5Gclose};
  const hid_t location = path == "/" ? handle.id : object.id;
  if (location < 0) throw InputError("results file '" + file + "': its group '" + path + "' cannot be read");
  // Creation order where the object tracks it (H5Aiterate2 fails on that index otherwise).
  H5_index_t order = H5_INDEX_NAME;
  if (path != "/") {
    const Closer properties{H5Gget_create_plist(location), H5Pclose};
    unsigned flags = 0;
    if (properties.id >= 0 && H5Pget_attr_creation_order(properties.id, &flags) >= 0 && (flags & H5P_CRT_ORDER_INDEXED)) order = H5_INDEX_CRT_ORDER;
  }
  std::vector<std::pair<std::string, std::string>> attributes;
  hsize_t position = 0;
  if (H5Aiterate2(location, order, H5_ITER_INC, &position, collect, &attributes) < 0)
    throw InputError("results file '" + file + "': the attributes of '" + path + "' cannot be read");
  return attributes;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> read_root_attributes(const std::string& file) { return read_attributes(file, "/"); }

std::vector<std::pair<std::string, std::string>> read_group_attributes(const std::string& file, const std::string& group) {
  return read_attributes(file, group);
}

}  // namespace kappa

// trustml/io/safetensors.hpp: the safetensors format (Hugging Face), read and written.
//
// Layout: an 8-byte little-endian header length N; N bytes of JSON, padded with spaces to a
// multiple of 8 as the Python library pads them:
//   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
// then the data section, where each tensor's bytes lie at its data_offsets (relative to the
// section's start). The tensors cover the section exactly: no gaps, no overlaps, no trailing bytes.
//
// The loader treats the file as untrusted input: every size, dtype, shape and offset is checked
// against the others and against the file's real size before anything is allocated or read, so a
// corrupt or malicious file gives a trustml::Error ("trustml::load_safetensors: <path>: ...") and
// never a crash or a huge allocation. Saving is atomic (write_file_atomically).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "trustml/core/config.hpp"
#include "trustml/io/array.hpp"
#include "trustml/io/atomic_file.hpp"
#include "trustml/io/input_file.hpp"

namespace trustml::io {

struct SafetensorsFile {
  std::vector<Array> arrays;  // in the order of their data in the file (for trustml's files, as saved)
  std::map<std::string, std::string> metadata;
};

namespace detail {
using Json = nlohmann::json;

// The Python library refuses larger headers too; nothing real comes close.
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;
// A valid header nests three deep ({"name": {"shape": [...]}}); deeper input is refused while it
// is parsed, so a header of 10^8 '[' cannot make the parser allocate a stack for each.
inline constexpr int kMaxSafetensorsNesting = 8;
inline constexpr std::string_view kMetadataKey = "__metadata__";

// A JSON value for an error message, cut short: a hostile header may hold a huge one.
inline std::string brief(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  return text.size() <= 60 ? text : text.substr(0, 57) + "...";
}

// A JSON integer in [0, INT64_MAX], or nullopt (negative, fractional, too large, not a number).
inline std::optional<std::int64_t> json_size(const Json& value) {
  if (!value.is_number_unsigned()) return std::nullopt;
  const auto v = value.get<std::uint64_t>();
  if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

// The parsed header and its top-level keys in file order (the JSON object itself is sorted by key).
struct SafetensorsHeader {
  Json json;
  std::vector<std::string> keys;
};

// Parses the header, rejecting duplicate keys in any object: the JSON library would keep one of
// them silently, and which tensor a name means must never be ambiguous.
inline SafetensorsHeader parse_header(const std::string& text, const std::string& file) {
  SafetensorsHeader header;
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  const Json::parser_callback_t track_keys = [&](int depth, Json::parse_event_t event, Json& parsed) {
    using Event = Json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start)
      TRUSTML_CHECK(depth < kMaxSafetensorsNesting, "load_safetensors", file, ": the header nests deeper than ",
                    kMaxSafetensorsNesting, " levels");
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      open_objects.pop_back();
    } else if (event == Event::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && !duplicate) duplicate = key;
      if (depth == 1) header.keys.push_back(key);
    }
    return true;
  };
  try {
    header.json = Json::parse(text, track_keys);
  } catch (const Json::exception& e) {
    ::trustml::detail::fail("load_safetensors", file, ": the header is not valid JSON: ", e.what());
  }
  TRUSTML_CHECK(!duplicate, "load_safetensors", file, ": the header has the key '", duplicate.value_or(""), "' twice");
  TRUSTML_CHECK(header.json.is_object(), "load_safetensors", file, ": the header is a JSON ", header.json.type_name(),
                ", not an object");
  return header;
}

// A tensor's header entry, checked on its own: known dtype, valid shape, offsets that match it.
struct SafetensorsEntry {
  Array array;  // bytes not read yet
  std::uint64_t begin = 0, end = 0;
};

inline SafetensorsEntry parse_entry(const std::string& name, const Json& entry, std::uint64_t data_size,
                                    const std::string& file) {
  constexpr const char* op = "load_safetensors";
  TRUSTML_CHECK(entry.is_object(), op, file, ": tensor '", name, "': the entry is a JSON ", entry.type_name(),
                ", not an object");
  for (const auto& [key, value] : entry.items())
    TRUSTML_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", op, file, ": tensor '", name,
                  "': unexpected field '", key, "' (expected dtype, shape, data_offsets)");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    TRUSTML_CHECK(entry.contains(field), op, file, ": tensor '", name, "': missing field '", field, "'");

  SafetensorsEntry out;
  out.array.name = name;
  const Json& dtype = entry["dtype"];
  TRUSTML_CHECK(dtype.is_string(), op, file, ": tensor '", name, "': dtype is ", brief(dtype), ", not a string");
  const auto parsed_dtype = parse_dtype_code(dtype.get_ref<const std::string&>());
  TRUSTML_CHECK(parsed_dtype.has_value(), op, file, ": tensor '", name, "': unsupported dtype ", brief(dtype),
                " (supported: ", supported_dtype_codes(), ")");
  out.array.dtype = *parsed_dtype;

  const Json& shape = entry["shape"];
  TRUSTML_CHECK(shape.is_array(), op, file, ": tensor '", name, "': shape is ", brief(shape), ", not an array");
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto dim = json_size(shape[i]);
    TRUSTML_CHECK(dim.has_value(), op, file, ": tensor '", name, "': dimension ", i, " of shape ", brief(shape),
                  shape[i].is_number_integer() && !shape[i].is_number_unsigned() ? " is negative"
                                                                                 : " is not a non-negative integer");
    out.array.shape.push_back(*dim);
  }
  const auto bytes = byte_size(out.array.shape, out.array.dtype);
  TRUSTML_CHECK(bytes.has_value(), op, file, ": tensor '", name, "': shape ", ShapeText{out.array.shape}, " of ",
                out.array.dtype, kTooLarge);

  const Json& offsets = entry["data_offsets"];
  const bool two_sizes = offsets.is_array() && offsets.size() == 2 && json_size(offsets[0]) && json_size(offsets[1]);
  TRUSTML_CHECK(two_sizes, op, file, ": tensor '", name, "': data_offsets is ", brief(offsets),
                ", not [begin, end] with non-negative integers");
  out.begin = offsets[0].get<std::uint64_t>();
  out.end = offsets[1].get<std::uint64_t>();
  TRUSTML_CHECK(out.begin <= out.end, op, file, ": tensor '", name, "': data_offsets [", out.begin, ", ", out.end,
                "] end before they begin");
  TRUSTML_CHECK(out.end <= data_size, op, file, ": tensor '", name, "': data_offsets [", out.begin, ", ", out.end,
                "] reach beyond the data section, which has ", data_size, " bytes");
  TRUSTML_CHECK(out.end - out.begin == *bytes, op, file, ": tensor '", name, "': data_offsets [", out.begin, ", ",
                out.end, "] hold ", out.end - out.begin, " bytes, but shape ", ShapeText{out.array.shape}, " of ",
                out.array.dtype, " needs ", *bytes);
  return out;
}

inline std::map<std::string, std::string> parse_metadata(const Json& metadata, const std::string& file) {
  TRUSTML_CHECK(metadata.is_object(), "load_safetensors", file, ": __metadata__ is a JSON ", metadata.type_name(),
                ", not an object of strings");
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : metadata.items()) {
    TRUSTML_CHECK(value.is_string(), "load_safetensors", file, ": __metadata__ entry '", key, "' is ", brief(value),
                  ", not a string");
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

}  // namespace detail

// Writes `arrays`, in order, and `metadata` (as "__metadata__", omitted when empty) to `path`,
// atomically. Names must be unique, valid UTF-8 and not "__metadata__".
inline void save_safetensors(const std::filesystem::path& path, const std::vector<Array>& arrays,
                             const std::map<std::string, std::string>& metadata = {}) {
  constexpr const char* op = "save_safetensors";
  const std::string file = path.string();
  // The header is assembled as text (JSON only escapes the strings): linear in the number of
  // arrays, and byte for byte the compact form the Python library writes.
  std::string text = "{";
  std::set<std::string_view> names;
  try {
    if (!metadata.empty()) {
      text += detail::Json(detail::kMetadataKey).dump();
      text += ":";
      text += detail::Json(metadata).dump();
    }
    std::uint64_t offset = 0;
    for (const Array& array : arrays) {
      check_array(array, op, file + ": ");
      TRUSTML_CHECK(array.name != detail::kMetadataKey, op, file, ": '", detail::kMetadataKey,
                    "' is reserved for metadata and cannot name an array");
      TRUSTML_CHECK(names.insert(array.name).second, op, file, ": two arrays are named '", array.name, "'");
      const std::uint64_t end = offset + array.bytes.size();
      if (text.size() > 1) text += ",";
      text += detail::Json(array.name).dump();
      text += ":{\"dtype\":\"";
      text += dtype_code(array.dtype);
      text += "\",\"shape\":";
      text += detail::Json(array.shape).dump();
      text += ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(end) + "]}";
      offset = end;
    }
  } catch (const detail::Json::exception& e) {
    ::trustml::detail::fail(op, file, ": an array name or metadata entry is not valid UTF-8: ", e.what());
  }
  text += "}";
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned

  std::byte length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::byte>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  write_file_atomically(
      path,
      [&](FileSink& sink) {
        sink.write(length, sizeof length);
        sink.write(text.data(), text.size());
        for (const Array& array : arrays) sink.write(array.bytes);
      },
      op);
}

// Reads and validates a whole safetensors file (see the top of this file for what is checked).
inline SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  constexpr const char* op = "load_safetensors";
  InputFile in = open_input_file(path, op);
  const std::string& file = in.name;
  const std::uint64_t file_size = in.size;
  TRUSTML_CHECK(file_size >= 8, op, file, ": the file has ", file_size,
                " bytes, fewer than the 8 of the header length");

  unsigned char length_bytes[8];
  in.read_at(0, length_bytes, 8, "the header length");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | length_bytes[i];
  TRUSTML_CHECK(header_size <= detail::kMaxSafetensorsHeader, op, file, ": the header length ", header_size,
                " exceeds the limit of ", detail::kMaxSafetensorsHeader, " bytes");
  TRUSTML_CHECK(header_size <= file_size - 8, op, file, ": the header length ", header_size, " exceeds the ",
                file_size - 8, " bytes that follow it");
  std::string header_text(header_size, '\0');
  in.read_at(8, header_text.data(), header_size, "the header");
  const detail::SafetensorsHeader header = detail::parse_header(header_text, file);

  const std::uint64_t data_start = 8 + header_size;
  const std::uint64_t data_size = file_size - data_start;
  SafetensorsFile out;
  std::vector<detail::SafetensorsEntry> entries;
  for (const std::string& key : header.keys) {
    const detail::Json& value = header.json.at(key);
    if (key == detail::kMetadataKey) out.metadata = detail::parse_metadata(value, file);
    else entries.push_back(detail::parse_entry(key, value, data_size, file));
  }

  // The tensors must tile the data section: sorted by offsets, each begins where the last ended.
  // (Stable: empty tensors at the same offset keep the header's order.)
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const auto& entry : entries) {
    const std::string& name = entry.array.name;
    TRUSTML_CHECK(previous || entry.begin == 0, op, file, ": the first ", entry.begin,
                  " bytes of the data section belong to no tensor (the first, '", name, "', starts at byte ",
                  entry.begin, ")");
    TRUSTML_CHECK(entry.begin >= covered, op, file, ": tensor '", name, "': data_offsets [", entry.begin, ", ",
                  entry.end, "] overlap tensor '", *previous, "', which ends at byte ", covered);
    TRUSTML_CHECK(entry.begin <= covered, op, file, ": tensor '", name, "': data_offsets [", entry.begin, ", ",
                  entry.end, "] leave bytes [", covered, ", ", entry.begin, ") after tensor '", *previous, "' unused");
    covered = entry.end;
    previous = &name;
  }
  TRUSTML_CHECK(covered == data_size, op, file, ": the tensors cover ", covered, " of the ", data_size,
                " bytes of the data section (file offset ", data_start, "): the rest belongs to no tensor");

  out.arrays.reserve(entries.size());
  for (auto& entry : entries) {
    Array& array = out.arrays.emplace_back(std::move(entry.array));
    array.bytes.resize(entry.end - entry.begin);
    in.read_at(data_start + entry.begin, array.bytes.data(), array.bytes.size(),
               "the data of tensor '" + array.name + "'");
    check_array(array, op, file + ": ");
  }
  return out;
}

}  // namespace trustml::io

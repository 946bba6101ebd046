// listing.cc — the files of a source for the formats that hold one sample (or
// one clip) a file (images, sound clips, GIF clips): one file; a folder of
// files sorted by name, or of label subfolders; a list file of paths with
// optional labels. And the folder such a format writes: one file a sample, in
// label subfolders when the samples are labeled.
#include <algorithm>
#include <filesystem>

#include "formats.h"

namespace dgm::io {

namespace fs = std::filesystem;

namespace {

std::string extension_list(const FileKind& kind) {
  std::string s;
  for (const auto& e : kind.extensions) s += (s.empty() ? "" : " ") + e;
  return s;
}

std::vector<FileItem> list_directory(const std::string& dir, const Space& space, const FileKind& kind) {
  std::vector<std::string> files, subdirs;
  list_dir(dir, &files, &subdirs);
  std::vector<FileItem> items;
  auto add_files = [&](const std::string& folder, const std::vector<std::string>& names, int32_t label) {
    for (const auto& n : names) {
      const std::string p = (fs::path(folder) / n).string();
      if (!kind.member(n))
        throw FormatError(p + ": not " + kind.article + " " + kind.what + " file by its extension (" + extension_list(kind) +
                          "); move it out of the data directory");
      items.push_back({p, label});
    }
  };
  if (!subdirs.empty() && !files.empty())
    throw FormatError(dir + ": mixes files (" + files[0] + ") and label subfolders (" + subdirs[0] + "); put every " +
                      kind.what + " in a label subfolder or none");
  if (subdirs.empty()) {
    add_files(dir, files, -1);
  } else {
    if (!space.has_labels())
      throw ConfigError(dir + ": has label subfolders (" + subdirs[0] +
                        ", ...) but the space has no labels; add \"labels\": " + std::to_string(subdirs.size()) +
                        " to the space");
    bool numeric = true;
    for (const auto& s : subdirs) {
      int64_t v;
      bool big;
      if (!parse_int(s, &v, &big) || big || v < 0 || !std::isdigit((unsigned char)s[0])) numeric = false;
    }
    if (!numeric && int64_t(subdirs.size()) != space.labels())
      throw DataError(dir + ": " + std::to_string(subdirs.size()) + " label subfolders, the space has " +
                      std::to_string(space.labels()) + " labels");
    std::vector<std::pair<int32_t, std::string>> order;
    for (size_t k = 0; k < subdirs.size(); ++k) {
      const int32_t label = numeric ? int32_t(std::stol(subdirs[k])) : int32_t(k);
      if (label >= space.labels())
        throw DataError(dir + "/" + subdirs[k] + ": label " + std::to_string(label) + " outside {0.." +
                        std::to_string(space.labels() - 1) + "}");
      order.push_back({label, subdirs[k]});
    }
    std::sort(order.begin(), order.end());
    for (const auto& [label, name] : order) {
      const std::string folder = (fs::path(dir) / name).string();
      std::vector<std::string> f, sub;
      list_dir(folder, &f, &sub);
      if (!sub.empty())
        throw FormatError(folder + "/" + sub[0] + ": nested folders inside a label folder are not read");
      add_files(folder, f, label);
    }
  }
  if (items.empty()) throw FormatError(dir + ": no " + kind.what + "s in the directory");
  return items;
}

std::vector<FileItem> list_file(const std::string& list, const Space& space, const FileKind& kind) {
  const TextFile f = read_text(list, kind.what + " list");
  const fs::path base = fs::path(list).parent_path();
  std::vector<FileItem> items;
  LineReader lines(f.text);
  std::string_view line;
  while (lines.next(&line)) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const std::string where = at_line(f.name, lines.line_number());
    int32_t label = -1;
    const size_t tab = line.find('\t');
    if (tab != std::string_view::npos) {
      label = parse_value(line.substr(tab + 1), where, "label", true);
      with_context(where, [&] { space.check_label(label); });
      line = line.substr(0, tab);
    }
    fs::path p{std::string(line)};
    if (p.is_relative()) p = base / p;
    items.push_back({p.string(), label});
  }
  if (items.empty()) throw FormatError(f.name + ": the " + kind.what + " list names no files");
  return items;
}

}  // namespace

bool FileKind::member(const std::string& name) const {
  const std::string ext = lower(fs::path(name).extension().string());
  return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

void list_dir(const std::string& dir, std::vector<std::string>* files, std::vector<std::string>* subdirs) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw IoError(dir + ": cannot list the directory: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw IoError(dir + ": cannot list the directory: " + ec.message());
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (it->is_directory(ec)) subdirs->push_back(name);
    else files->push_back(name);
  }
  std::sort(files->begin(), files->end());
  std::sort(subdirs->begin(), subdirs->end());
}

std::vector<FileItem> list_source_files(const std::string& path, const Space& space, const FileKind& kind,
                                        bool* single) {
  *single = false;
  if (is_directory(path)) return list_directory(path, space, kind);
  const std::string ext = lower(fs::path(path).extension().string());
  if (ext == ".txt" || ext == ".list") return list_file(path, space, kind);
  *single = true;
  return {{path, -1}};
}

bool labels_all_or_none(const Dataset& data, const std::string& dir) {
  size_t known = 0;
  for (size_t i = 0; i < data.size(); ++i) known += data.label(i) >= 0;
  if (known != 0 && known != data.size())
    throw DataError(dir + ": some samples have labels and some do not; label folders need all or none");
  return known != 0;
}

void prepare_output_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw IoError(dir + ": exists and is not a directory");
    if (!fs::is_empty(dir, ec)) throw IoError(dir + ": directory is not empty; choose a new one or empty it");
  }
  fs::create_directories(dir, ec);
  if (ec) throw IoError(dir + ": cannot create the directory: " + ec.message());
}

std::string sample_file_path(const std::string& dir, size_t i, size_t n, int32_t label, const std::string& ext) {
  fs::path folder(dir);
  if (label >= 0) {
    folder /= std::to_string(label);
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) throw IoError(folder.string() + ": cannot create the directory: " + ec.message());
  }
  int digits = 6;
  for (size_t m = n; m >= 1000000; m /= 10) ++digits;
  std::string name = std::to_string(i);
  name = std::string(size_t(std::max(0, digits - int(name.size()))), '0') + name + ext;
  return (folder / name).string();
}

}  // namespace dgm::io

// dgm_python.cc — the Python module `dgm`: a thin shell over libdgm, as the
// command line (src/cli) is. NumPy integer arrays (N, *shape) in and out,
// text through the model's codec, log-likelihoods in nats as float64 arrays.
// Scoring, sampling and completion do exactly what `dgm score`, `dgm sample`
// and `dgm sample --given` do (same batches, chunks and random streams), so
// the numbers and samples are the CLI's to the last digit (tests/python).
// The GIL is released while libdgm works; dgm's exceptions become dgm.Error
// subclasses that are also ValueError (config, data, format) or OSError (files).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "dgm/codec.h"
#include "dgm/config.h"
#include "dgm/dataset.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/metrics.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/rng.h"
#include "dgm/space.h"
#include "dgm/thread_pool.h"

namespace py = pybind11;

namespace dgm::python {
namespace {

// Scoring in batches of kScoreBatch rows, as `dgm score` does (the scores do
// not depend on the batches); seeded samples come from draw_samples
// (dgm/model.h), as `dgm sample`'s do.
constexpr size_t kScoreBatch = 65536;

// ---- exceptions ----

PyObject* g_error = nullptr;         // dgm.Error
PyObject* g_config_error = nullptr;  // dgm.ConfigError(dgm.Error, ValueError)
PyObject* g_data_error = nullptr;    // dgm.DataError(dgm.Error, ValueError)
PyObject* g_format_error = nullptr;  // dgm.FormatError(dgm.Error, ValueError)
PyObject* g_io_error = nullptr;      // dgm.IoError(dgm.Error, OSError)

PyObject* new_exception(py::module_& m, const char* name, PyObject* base, const char* doc) {
  const std::string qualified = std::string("dgm.") + name;
  PyObject* bases = base ? PyTuple_Pack(2, g_error, base) : nullptr;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base ? bases : PyExc_Exception, nullptr);
  Py_XDECREF(bases);
  if (!cls) throw py::error_already_set();
  m.attr(name) = py::handle(cls);
  return cls;
}

// ---- JSON <-> Python ----

py::object to_py(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return py::none();
    case json::value_t::boolean: return py::bool_(j.get<bool>());
    case json::value_t::number_integer: return py::int_(j.get<int64_t>());
    case json::value_t::number_unsigned: return py::int_(j.get<uint64_t>());
    case json::value_t::number_float: return py::float_(j.get<double>());
    case json::value_t::string: return py::str(j.get<std::string>());
    case json::value_t::array: {
      py::list l;
      for (const auto& v : j) l.append(to_py(v));
      return std::move(l);
    }
    case json::value_t::object: {
      py::dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d[py::str(it.key())] = to_py(it.value());
      return std::move(d);
    }
    default: return py::none();
  }
}

// A path given as str or os.PathLike.
std::string path_of(py::handle h, const std::string& what) {
  if (py::isinstance<py::str>(h)) return h.cast<std::string>();
  if (py::hasattr(h, "__fspath__")) {
    py::object p = h.attr("__fspath__")();
    if (py::isinstance<py::str>(p)) return p.cast<std::string>();
  }
  throw ConfigError(what + ": expected a path (str or os.PathLike), got " +
                    std::string(py::str(py::type::of(h).attr("__name__"))));
}

json from_py(py::handle h, const std::string& where) {
  if (h.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(h) || py::isinstance(h, py::module_::import("numpy").attr("bool_")))
    return h.cast<bool>();
  if (py::isinstance<py::int_>(h)) {
    try {
      return h.cast<int64_t>();
    } catch (const py::cast_error&) {
      throw ConfigError(where + ": integer " + std::string(py::str(h)) + " is out of range");
    }
  }
  if (py::isinstance<py::float_>(h)) return h.cast<double>();
  if (py::isinstance<py::str>(h)) return h.cast<std::string>();
  if (py::isinstance<py::dict>(h)) {
    json o = json::object();
    for (auto kv : h.cast<py::dict>()) {
      if (!py::isinstance<py::str>(kv.first)) throw ConfigError(where + ": keys must be strings");
      const std::string k = kv.first.cast<std::string>();
      o[k] = from_py(kv.second, where.empty() ? k : where + "." + k);
    }
    return o;
  }
  if (py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h)) {
    json a = json::array();
    size_t i = 0;
    for (auto v : h) a.push_back(from_py(v, where + "[" + std::to_string(i++) + "]"));
    return a;
  }
  if (py::hasattr(h, "__fspath__")) return path_of(h, where);
  // NumPy scalars (np.int64(3), np.float32(0.5)) and other numbers.
  if (PyIndex_Check(h.ptr())) return from_py(py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr())), where);
  if (PyFloat_Check(h.ptr()) || py::hasattr(h, "__float__")) return py::cast<double>(h);
  throw ConfigError(where + ": a " + std::string(py::str(py::type::of(h).attr("__name__"))) +
                    " cannot be a config value (use numbers, strings, lists and dicts)");
}

// ---- arrays <-> datasets ----

std::string shape_string(const std::vector<int64_t>& s, bool with_n) {
  std::string out = with_n ? "(N" : "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i || with_n ? ", " : "") + std::to_string(s[i]);
  if (!with_n && s.size() == 1) out += ",";
  return out + ")";
}

std::string array_shape(const py::array& a) {
  std::vector<int64_t> s;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s.push_back(int64_t(a.shape(i)));
  return shape_string(s, false);
}

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// A NumPy array of integers (or booleans) as it is: ValueError for other dtypes.
py::array integer_array(py::handle h, const std::string& name) {
  const bool arraylike = py::isinstance<py::array>(h) || py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h) ||
                         py::hasattr(h, "__array__") || py::hasattr(h, "__array_interface__");
  py::array a;
  if (arraylike) a = py::array::ensure(h);
  if (!arraylike || !a) throw DataError(name + ": expected a NumPy integer array, got " +
                          std::string(py::str(py::type::of(h).attr("__name__"))));
  const char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u' && kind != 'b')
    throw DataError(name + ": dtype " + dtype_name(a) + "; dgm takes arrays of integers (values, not " +
                    (kind == 'f' ? "probabilities or intensities; e.g. x.astype(np.uint8)"
                                 : "objects; rows of different lengths?") + ")");
  return a;
}

// The rows of `h` as a dataset of `space`: an integer array (N, *shape) for
// fixed-shape spaces, a list of 1-D integer arrays for variable-length ones,
// str or a list of str through the codec of a text model. Each row is checked
// against the space; errors name the row ("x[3]: position [1,2]: ...").
// With `borrow`, a C-contiguous array whose dtype is the dataset's own
// storage (uint8 up to 256 levels, uint16 up to 65536, int32 beyond, native
// byte order) is not copied: the dataset reads the array's memory, which the
// caller keeps alive (and unchanged) while it is used.
Dataset to_dataset(py::handle h, py::handle labels_h, const Space& space, const Codec* codec,
                   const std::string& name, bool borrow = false) {
  Dataset d(space);
  // Labels: an integer array (N,), -1 for unknown; checked against N below.
  std::vector<int32_t> labels;
  if (!labels_h.is_none()) {
    if (!space.has_labels())
      throw DataError("labels: given, but the space " + space.describe() + " has no labels");
    py::array la = integer_array(labels_h, "labels");
    if (la.ndim() != 1) throw DataError("labels: shape " + array_shape(la) + ", expected (N,)");
    py::array_t<int64_t, py::array::c_style | py::array::forcecast> l64(la);
    auto r = l64.unchecked<1>();
    labels.resize(size_t(r.shape(0)));
    for (py::ssize_t i = 0; i < r.shape(0); ++i) {
      const int64_t y = r(i);
      if (y < -1 || y >= space.labels())
        throw DataError("labels[" + std::to_string(i) + "]: " + std::to_string(y) + " is not a label of " +
                        space.describe() + " (0.." + std::to_string(space.labels() - 1) + ", or -1 for unknown)");
      labels[size_t(i)] = int32_t(y);
    }
  }
  auto label_of = [&](size_t i) { return labels.empty() ? -1 : labels[i]; };
  auto check_count = [&](size_t n) {
    if (!labels.empty() && labels.size() != n)
      throw DataError("labels: " + std::to_string(labels.size()) + " labels for " + std::to_string(n) + " rows of " +
                      name);
  };
  auto push = [&](size_t i, const int32_t* x, int64_t len) {
    try {
      d.push_back(x, len, label_of(i));
    } catch (const DataError& e) {
      throw DataError(name + "[" + std::to_string(i) + "]: " + e.what());
    }
  };

  // Text (or any codec's outside form): str, or a sequence of str.
  if (codec && (py::isinstance<py::str>(h) || (py::isinstance<py::sequence>(h) && !py::isinstance<py::array>(h) &&
                                               py::len(h) > 0 && py::isinstance<py::str>(h[py::int_(0)])))) {
    std::vector<std::string> lines;
    if (py::isinstance<py::str>(h)) lines.push_back(h.cast<std::string>());
    else
      for (auto v : h) {
        if (!py::isinstance<py::str>(v)) throw DataError(name + ": a list of str, but item " +
                                                         std::to_string(lines.size()) + " is not a str");
        lines.push_back(v.cast<std::string>());
      }
    check_count(lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      std::vector<int32_t> ids;
      try {
        ids = codec->encode_prompt(lines[i]);
      } catch (const DataError& e) {
        throw DataError(name + "[" + std::to_string(i) + "]: " + e.what());
      }
      push(i, ids.data(), int64_t(ids.size()));
    }
    return d;
  }
  if (py::isinstance<py::str>(h)) throw DataError(name + ": a str, but the model has no text codec; give integer arrays");

  if (space.variable_length()) {
    // A list of 1-D integer arrays (or lists), one sequence each.
    if (!py::isinstance<py::sequence>(h) || py::isinstance<py::array>(h))
      throw DataError(name + ": the space " + space.describe() +
                      " holds sequences of varying length: give a list of 1-D integer arrays");
    const size_t n = py::len(h);
    check_count(n);
    for (size_t i = 0; i < n; ++i) {
      py::array a = integer_array(h[py::int_(i)], name + "[" + std::to_string(i) + "]");
      if (a.ndim() != 1)
        throw DataError(name + "[" + std::to_string(i) + "]: shape " + array_shape(a) + ", expected a 1-D sequence");
      py::array_t<int64_t, py::array::c_style | py::array::forcecast> v(a);
      std::vector<int32_t> x(static_cast<size_t>(v.size()));
      for (size_t t = 0; t < x.size(); ++t) {
        const int64_t val = v.data()[t];
        if (val < 0 || val >= space.levels())
          throw DataError(name + "[" + std::to_string(i) + "]: position [" + std::to_string(t) + "]: value " +
                          std::to_string(val) + " outside {0.." + std::to_string(space.levels() - 1) + "}");
        x[t] = int32_t(val);
      }
      push(i, x.data(), int64_t(x.size()));
    }
    return d;
  }

  py::array a = integer_array(h, name);
  const auto& shape = space.shape();
  bool ok = a.ndim() == py::ssize_t(shape.size() + 1);
  for (size_t k = 0; ok && k < shape.size(); ++k) ok = a.shape(py::ssize_t(k + 1)) == shape[k];
  if (!ok) {
    bool one = a.ndim() == py::ssize_t(shape.size());
    for (size_t k = 0; one && k < shape.size(); ++k) one = a.shape(py::ssize_t(k)) == shape[k];
    throw DataError(name + ": shape " + array_shape(a) + ", expected " + shape_string(shape, true) + " for the space " +
                    space.describe() + (one ? " (one sample: x[None])" : ""));
  }
  const size_t n = size_t(a.shape(0));
  check_count(n);
  const int64_t D = space.dims();
  d.reserve(n);
  const char kind = a.dtype().kind(), order = a.dtype().attr("byteorder").cast<std::string>()[0];
  const bool native = order == '=' || order == '|' || (order == '<' && py::module_::import("sys").attr("byteorder").cast<std::string>() == "little");
  const bool storage = native && (a.flags() & py::array::c_style) && a.itemsize() == d.width() &&
                       (d.width() < 4 ? kind == 'u' : kind == 'i');
  if (borrow && storage && a.ptr() == h.ptr()) return Dataset::borrow(space, static_cast<const uint8_t*>(a.data()), n, labels, name);
  if (kind == 'u' && a.itemsize() == 1 && d.width() == 1 && (a.flags() & py::array::c_style)) {
    // Contiguous bytes: checked and appended row by row.
    const uint8_t* p = static_cast<const uint8_t*>(a.data());
    for (size_t i = 0; i < n; ++i) {
      try {
        d.push_back_u8(p + i * size_t(D), label_of(i));
      } catch (const DataError& e) {
        throw DataError(name + "[" + std::to_string(i) + "]: " + e.what());
      }
    }
    return d;
  }
  // Other dtypes and layouts: converted a block of rows at a time (at most
  // 8 MB of int64 beside the dataset).
  const size_t block = std::max<size_t>(1, (size_t(1) << 20) / size_t(std::max<int64_t>(D, 1)));
  std::vector<int32_t> x(static_cast<size_t>(D));
  for (size_t first = 0; first < n; first += block) {
    const size_t last = std::min(n, first + block);
    py::array rows = a[py::slice(py::ssize_t(first), py::ssize_t(last), 1)];
    py::array_t<int64_t, py::array::c_style | py::array::forcecast> v(rows);
    const int64_t* p = v.data();
    for (size_t i = first; i < last; ++i) {
      for (int64_t t = 0; t < D; ++t) {
        const int64_t val = p[(i - first) * size_t(D) + size_t(t)];
        if (val < 0 || val >= space.levels())
          throw DataError(name + "[" + std::to_string(i) + "]: position " + space.position(t) + ": value " +
                          std::to_string(val) + " outside {0.." + std::to_string(space.levels() - 1) + "}");
        x[size_t(t)] = int32_t(val);
      }
      push(i, x.data(), D);
    }
  }
  return d;
}

py::dtype value_dtype(int width) {
  return width == 1 ? py::dtype::of<uint8_t>() : width == 2 ? py::dtype::of<uint16_t>() : py::dtype::of<int32_t>();
}

// A dataset's values as NumPy: (N, *shape) for fixed shapes, sharing the
// dataset's memory (the array owns it); a list of 1-D arrays for sequences;
// a list of str through the codec when `decode`.
py::object values_to_py(Dataset&& data, const Codec* codec, bool decode) {
  if (decode && codec) {
    std::ostringstream os;
    codec->write(data, codec->formats().front(), os);
    const std::string text = os.str();
    py::list out;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      out.append(py::str(text.substr(start, end - start)));
      start = end + 1;
    }
    if (py::len(out) != data.size())
      throw DataError("the codec wrote " + std::to_string(py::len(out)) + " lines for " + std::to_string(data.size()) +
                      " samples");
    return std::move(out);
  }
  const Space& space = data.space();
  if (space.variable_length()) {
    py::list out;
    for (size_t i = 0; i < data.size(); ++i) {
      const std::vector<int32_t> r = data.row(i);
      py::array_t<int32_t> a(py::ssize_t(r.size()));
      if (!r.empty()) std::memcpy(a.mutable_data(), r.data(), r.size() * sizeof(int32_t));
      out.append(a);
    }
    return std::move(out);
  }
  std::vector<py::ssize_t> shape{py::ssize_t(data.size())};
  for (int64_t e : space.shape()) shape.push_back(py::ssize_t(e));
  auto* owned = new Dataset(std::move(data));
  py::capsule owner(owned, [](void* p) { delete static_cast<Dataset*>(p); });
  void* ptr = const_cast<uint8_t*>(owned->raw().data());
  return py::array(value_dtype(owned->width()), shape, ptr, owner);
}

py::array labels_to_py(const Dataset& data) {
  py::array_t<int64_t> a(py::ssize_t(data.size()));
  int64_t* p = a.mutable_data();
  for (size_t i = 0; i < data.size(); ++i) p[i] = data.label(i);
  return std::move(a);
}

// (values, labels) on labeled spaces, else the values.
py::object samples_to_py(Dataset&& data, const Codec* codec) {
  if (!data.space().has_labels()) return values_to_py(std::move(data), codec, true);
  py::array labels = labels_to_py(data);
  py::object values = values_to_py(std::move(data), codec, true);
  return py::make_tuple(values, labels);
}

// ---- the model ----

int32_t label_arg(py::handle label, const Space& space) {
  if (label.is_none()) return -1;
  if (!space.has_labels())
    throw DataError("label " + std::string(py::str(label)) + ": the space " + space.describe() + " has no labels");
  const int64_t y = label.cast<int64_t>();
  if (y < 0 || y >= space.labels())
    throw DataError("label " + std::to_string(y) + ": the model's labels are 0.." + std::to_string(space.labels() - 1));
  return int32_t(y);
}

double temperature_arg(double t) {
  if (!(t > 0) || !std::isfinite(t)) throw DataError("temperature " + std::to_string(t) + ": must be a positive number");
  return t;
}

class PyModel {
 public:
  PyModel(std::unique_ptr<Model> model, json info, std::string source)
      : model_(std::move(model)), info_(std::move(info)), source_(std::move(source)) {}

  const Model& model() const { return *model_; }
  const Space& space() const { return model_->space(); }
  const json& info() const { return info_; }
  const std::string& source() const { return source_; }

  py::array log_prob(py::handle x, py::handle labels, int threads) const {
    // `x` (the caller's array) outlives the call: a dataset borrowing it is safe.
    const Dataset d = to_dataset(x, labels, space(), model_->codec(), "x", true);
    py::array_t<double> out(py::ssize_t(d.size()));
    double* p = out.mutable_data();
    {
      py::gil_scoped_release release;
      ThreadPool pool(threads);
      for (size_t b = 0; b < d.size(); b += kScoreBatch)
        model_->log_prob(DataView(d, b, std::min(d.size(), b + kScoreBatch)), p + b, pool);
    }
    return std::move(out);
  }

  py::object sample(int64_t n, int64_t seed, py::handle label, double temperature, int threads) const {
    if (n < 0) throw DataError("n " + std::to_string(n) + ": the number of samples cannot be negative");
    if (seed < 0) throw DataError("seed " + std::to_string(seed) + ": must be >= 0");
    SampleOptions so;
    so.label = label_arg(label, space());
    so.temperature = temperature_arg(temperature);
    Dataset all;
    {
      py::gil_scoped_release release;
      ThreadPool pool(threads);
      so.pool = &pool;
      all = draw_samples(*model_, size_t(n), uint64_t(seed), so);
    }
    return samples_to_py(std::move(all), model_->codec());
  }

  py::object complete(py::handle x, py::handle known_mask, int64_t seed, py::handle label, double temperature,
                      int threads) const {
    if (seed < 0) throw DataError("seed " + std::to_string(seed) + ": must be >= 0");
    SampleOptions so;
    so.label = label_arg(label, space());
    so.temperature = temperature_arg(temperature);
    const Space& s = space();
    Dataset partial(s);
    std::vector<uint8_t> known;
    if (s.variable_length()) {
      // Rows are prefixes to continue (text for a text model).
      if (!known_mask.is_none())
        throw DataError("known_mask: the space " + s.describe() +
                        " holds sequences: each row is a known prefix, give known_mask=None");
      partial = to_dataset(x, py::none(), s, model_->codec(), "x");
    } else {
      py::array xa = integer_array(x, "x");
      if (known_mask.is_none()) throw DataError("known_mask: required (True where x is known), shaped like x");
      py::array ma = integer_array(known_mask, "known_mask");
      bool same = ma.ndim() == xa.ndim();
      for (py::ssize_t k = 0; same && k < xa.ndim(); ++k) same = ma.shape(k) == xa.shape(k);
      if (!same) throw DataError("known_mask: shape " + array_shape(ma) + ", expected that of x " + array_shape(xa));
      // Unknown positions may hold anything: they are zeroed, as `dgm sample --given` reads '?'.
      py::array_t<int64_t, py::array::c_style | py::array::forcecast> xv(xa);
      py::array_t<uint8_t, py::array::c_style | py::array::forcecast> mv(py::array(ma.attr("astype")("bool")));
      py::array_t<int64_t> filled(xv.request().shape);
      for (py::ssize_t i = 0; i < xv.size(); ++i) filled.mutable_data()[i] = mv.data()[i] ? xv.data()[i] : 0;
      partial = to_dataset(filled, py::none(), s, nullptr, "x");
      known.assign(mv.data(), mv.data() + mv.size());
    }
    Dataset out;
    {
      py::gil_scoped_release release;
      ThreadPool pool(threads);
      so.pool = &pool;
      Rng rng(uint64_t(seed), 0);  // as `dgm sample --given FILE -s seed`
      out = model_->complete(partial, known, rng, so);
    }
    return samples_to_py(std::move(out), model_->codec());
  }

  void save(py::handle path) const {
    const std::string p = path_of(path, "path");
    py::gil_scoped_release release;
    save_model(p, *model_, info_);
  }

  py::dict describe() const {
    json h = model_header(*model_, info_);
    return to_py(h).cast<py::dict>();
  }

  py::object label_log_prior() const {
    const std::vector<double> v = model_->label_log_prior();
    py::array_t<double> a(py::ssize_t(v.size()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return std::move(a);
  }

  // The model file's bytes (what save() writes), for pickle and copies.
  py::bytes to_bytes() const {
    std::string b;
    {
      py::gil_scoped_release release;
      b = model_writer(*model_, info_).serialize();
    }
    return py::bytes(b);
  }

  std::string repr() const {
    std::string r = "<dgm.Model " + model_->kind() + " on " + space().describe();
    if (model_->codec()) r += ", " + model_->codec()->describe();
    if (!source_.empty()) r += " from " + source_;
    return r + ">";
  }

 private:
  std::shared_ptr<Model> model_;
  json info_;  // the header fields of its file besides kind, space, describe and codec
  std::string source_;
};

// A model from its file's header and the model itself: `info` keeps the
// header's fields besides those the model gives back.
PyModel from_header(std::unique_ptr<Model> model, const json& header, const std::string& source) {
  // Keep what the file says besides what the model itself gives back.
  json info = json::object();
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& k = it.key();
    if (k == "format" || k == "format_version" || k == "dgm_version" || k == "kind" || k == "space" ||
        k == "describe" || k == "codec" || k == "train_state")
      continue;
    info[k] = it.value();
  }
  return PyModel(std::move(model), std::move(info), source);
}

PyModel load(py::handle path) {
  const std::string p = path_of(path, "path");
  json header;
  std::unique_ptr<Model> model;
  {
    py::gil_scoped_release release;
    model = load_model(p, &header);
  }
  return from_header(std::move(model), header, p);
}

PyModel from_bytes(const std::string& bytes, const std::string& name) {
  std::unique_ptr<Model> model;
  json header;
  {
    py::gil_scoped_release release;
    const ModelReader r = ModelReader::parse(bytes, name);
    header = r.header();
    model = load_model(r);
  }
  return from_header(std::move(model), header, "");
}

// ---- training ----

// Progress for Python: calls the callback with one dict a step (from the
// thread that runs fit, the GIL taken for the call), forwards messages to the
// "dgm" logger, and stops the fit (at its next resumable point, keeping the
// best parameters) on Ctrl-C, an exception in the callback, or a callback
// that returns False. Keeps the training record as `dgm train` stores it
// (cli::CliMonitor::record without the run's times).
class PyMonitor : public TrainMonitor {
 public:
  PyMonitor(py::object callback, int64_t dims) : callback_(std::move(callback)), dims_(dims) {}

  std::atomic<bool> stop{false};

  void on_start(const TrainProgress& p) override { start_ = p; }

  void on_step(const TrainProgress& p) override {
    history_.push_back(p);
    py::gil_scoped_acquire gil;
    if (check_signals()) return;
    if (callback_.is_none()) return;
    py::dict d;
    d["unit"] = p.unit;
    d["step"] = p.step;
    d["total"] = p.total;
    d["train_nll"] = p.train_nll;
    d["valid_nll"] = p.valid_nll;
    d["learning_rate"] = p.learning_rate;
    if (p.restart) d["restart"] = p.restart;
    d["best"] = p.best;
    try {
      py::object r = callback_(d);
      if (!r.is_none() && !r.cast<bool>()) stop = true;
    } catch (py::error_already_set& e) {
      error_ = std::make_unique<py::error_already_set>(std::move(e));
      stop = true;
    }
  }

  void on_work(int64_t, int64_t) override {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_check_).count() < 0.2) return;
    last_check_ = now;
    py::gil_scoped_acquire gil;
    check_signals();
  }

  void message(const std::string& text) override {
    py::gil_scoped_acquire gil;
    try {
      py::module_::import("logging").attr("getLogger")("dgm").attr("info")(text);
    } catch (py::error_already_set&) {
    }
  }

  // Rethrows what stopped the fit (KeyboardInterrupt, the callback's exception).
  void rethrow() {
    if (error_) {
      auto e = std::move(error_);
      throw *e;
    }
  }

  json record() const { return training_record(history_, start_, dims_); }

 private:
  bool check_signals() {
    if (error_) return true;
    if (PyErr_CheckSignals() != 0) {
      error_ = std::make_unique<py::error_already_set>();
      stop = true;
      return true;
    }
    return false;
  }

  py::object callback_;
  int64_t dims_;
  TrainProgress start_;
  std::vector<TrainProgress> history_;
  std::unique_ptr<py::error_already_set> error_;
  std::chrono::steady_clock::time_point last_check_ = std::chrono::steady_clock::now();
};

// "model.components" = 20, or model__components = 20.
void apply_py_override(json& cfg, const std::string& key_in, py::handle value) {
  std::string key = key_in;
  for (size_t at; (at = key.find("__")) != std::string::npos;) key.replace(at, 2, ".");
  json* node = &cfg;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw ConfigError("override '" + key_in + "': expected keys like model.components");
    if (!node->is_object()) *node = json::object();
    if (dot == std::string::npos) {
      (*node)[part] = from_py(value, key);
      break;
    }
    node = &(*node)[part];
    start = dot + 1;
  }
  if (key.compare(0, 5, "data.") == 0 && cfg.contains("data"))
    resolve_data_paths(cfg["data"], std::filesystem::current_path().string());
}

// What `dgm train` does between reading the config and writing the model
// (src/cli/cmd_train.cc run_train), without checkpoints: the same effective
// config, seed, data splits and fit, and the same header fields, so that the
// model saved is the one `dgm train --reproducible` writes.
PyModel train(py::object config, py::object callback, py::object data, py::object labels, py::object validation,
              py::object validation_labels, int threads, py::kwargs overrides) {
  json cfg;
  std::string name = "config";
  if (py::isinstance<py::dict>(config)) {
    cfg = from_py(config, "");
    // A dict's data paths are relative to the current folder.
    if (cfg.contains("data")) resolve_data_paths(cfg["data"], std::filesystem::current_path().string());
  } else {
    const std::string path = path_of(config, "config");
    name = path;
    cfg = load_config_file(path);
    if (cfg.is_object() && cfg.contains("data"))
      resolve_data_paths(cfg["data"], std::filesystem::absolute(path).parent_path().string());
  }
  if (!cfg.is_object()) throw ConfigError(name + ": expected a JSON object");
  for (auto kv : overrides) apply_py_override(cfg, kv.first.cast<std::string>(), kv.second);
  if (cfg.contains("output")) cfg.erase("output");  // where a CLI run writes; model.save() here

  const bool arrays = !data.is_none();
  if (arrays && cfg.contains("data"))
    throw ConfigError(name + ": give the training data either as arrays (data=...) or in the config's 'data' "
                      "section, not both");
  if (!arrays && !validation.is_none()) throw ConfigError("validation: only with data=... (arrays)");
  if (!arrays && !cfg.contains("data"))
    throw ConfigError(name + ": missing section 'data' (e.g. {\"train\": \"data.txt\"}), or give arrays: data=x");
  ConfigSection top(cfg, name);
  top.allow({"space", "data", "model", "train"});
  top.finish();

  Space space;
  std::shared_ptr<const Codec> codec;
  if (arrays) {
    if (!cfg.contains("space"))
      throw ConfigError(name + ": missing section 'space' (e.g. {\"shape\": [28, 28], \"levels\": 256}), needed "
                        "with arrays");
    space = Space::from_json(cfg["space"]);
  } else {
    codec = fit_codec(cfg["data"], cfg.contains("space") ? cfg["space"] : json(), &space);
  }
  ConfigSection train_top(cfg.contains("train") ? cfg["train"] : json(), "train");
  const uint64_t seed = uint64_t(train_top.get_int("seed", 1, 0, INT64_MAX));
  if (threads <= 0) threads = int(train_top.get_int("threads", 0, 0, 1024));
  json effective;
  std::unique_ptr<Model> model = create_model_for_training(cfg, space, codec, seed, name, &effective);

  DataSplits splits;
  if (arrays) {
    splits.train = to_dataset(data, labels, space, nullptr, "data");
    splits.validation = validation.is_none() ? Dataset(space)
                                             : to_dataset(validation, validation_labels, space, nullptr, "validation");
    splits.test = Dataset(space);
    auto describe_array = [](const Dataset& d) {
      return "<" + std::to_string(d.size()) + " samples from NumPy>";
    };
    effective["data"] = {{"train", describe_array(splits.train)}};
    if (!splits.validation.empty()) effective["data"]["validation"] = describe_array(splits.validation);
  } else {
    py::gil_scoped_release release;
    splits = load_data(cfg["data"], space, seed, codec.get());
  }
  if (splits.train.empty()) throw DataError(name + ": the training set is empty");

  PyMonitor monitor(callback, space.variable_length() ? 0 : space.dims());
  json info;
  info["config"] = effective;
  info["data_fingerprint"] = splits.train.fingerprint_hex();
  info["seed"] = seed;
  {
    py::gil_scoped_release release;
    ThreadPool pool(threads);
    Rng rng(seed);
    FitContext ctx{&pool, &rng, &monitor, &monitor.stop, nullptr, nullptr};
    model->fit(splits.train, splits.validation.empty() ? nullptr : &splits.validation, ctx);
    if (!monitor.stop.load()) {
      info["training"] = monitor.record();
      const NllSummary tr = evaluate_nll(*model, splits.train, pool);
      const NllSummary va = evaluate_nll(*model, splits.validation, pool);
      const NllSummary te = evaluate_nll(*model, splits.test, pool);
      info["metrics"] = metrics_json(tr, va, te, space);
    }
  }
  monitor.rethrow();
  if (monitor.stop.load()) {
    // Stopped by the callback: the best parameters so far, marked partial.
    info["training"] = monitor.record();
    info["partial"] = true;
  }
  return PyModel(std::move(model), std::move(info), "");
}

// ---- reading data files ----

py::object read(py::handle path, const Space& space, const std::string& format, py::kwargs options) {
  json source = options ? from_py(options, "") : json::object();
  source["path"] = path_of(path, "path");
  if (!format.empty()) source["format"] = format;
  Dataset d;
  {
    py::gil_scoped_release release;
    d = read_dataset(source, space, nullptr);
  }
  return samples_to_py(std::move(d), nullptr);
}

}  // namespace

void define_module(py::module_& m) {
  m.doc() =
      "dgm: learn to generate discrete data, in Python.\n\n"
      "A thin layer over libdgm, the library of the `dgm` command: the same models, the same exact\n"
      "log-likelihoods in nats and the same seeded samples as `dgm score` and `dgm sample`.\n\n"
      "    import dgm, numpy as np\n"
      "    model = dgm.train('configs/digits.json')          # or a dict; overrides: model__components=20\n"
      "    lp = model.log_prob(x)                             # x: integers (N, 5, 5) -> float64 (N,), nats\n"
      "    s = model.sample(8, seed=1)                        # uint8 (8, 5, 5); (x, labels) on labeled spaces\n"
      "    model.save('digits.dgm'); m2 = dgm.load('digits.dgm')\n\n"
      "Data are NumPy integer arrays shaped (N, *space.shape), with values in {0..levels-1}; uint8\n"
      "arrays are read without conversion. Text models take and return str. Errors are dgm.Error:\n"
      "dgm.ConfigError, dgm.DataError and dgm.FormatError are also ValueError, dgm.IoError is OSError.\n"
      "The GIL is released while dgm trains, scores and samples (threads=0: every core).";
  m.attr("__version__") = DGM_VERSION;

  g_error = new_exception(m, "Error", nullptr, "Any error dgm reports; its message names the input and the problem.");
  g_config_error = new_exception(m, "ConfigError", PyExc_ValueError,
                                 "A config, option or argument that is malformed, unknown or out of range.");
  g_data_error = new_exception(m, "DataError", PyExc_ValueError,
                               "A sample or array that is not in the model's space (shape, dtype, value, label).");
  g_format_error = new_exception(m, "FormatError", PyExc_ValueError,
                                 "A file whose bytes are not what its format says (bad magic, truncated, corrupted).");
  g_io_error = new_exception(m, "IoError", PyExc_OSError, "The operating system refused: a missing file, no "
                                                          "permission, a full disk.");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const IoError& e) {
      PyErr_SetString(g_io_error, e.what());
    } catch (const ConfigError& e) {
      PyErr_SetString(g_config_error, e.what());
    } catch (const DataError& e) {
      PyErr_SetString(g_data_error, e.what());
    } catch (const FormatError& e) {
      PyErr_SetString(g_format_error, e.what());
    } catch (const Error& e) {
      PyErr_SetString(g_error, e.what());
    }
  });

  py::class_<Space>(m, "Space",
                    "The data space X: tensors of a shape whose values are in {0..levels-1}, optionally with a\n"
                    "label in {0..labels-1}; or token sequences of length 0..max_length (Space.sequence).")
      .def(py::init([](std::vector<int64_t> shape, int64_t levels, py::object labels) {
             return Space::tensor(std::move(shape), levels, labels.is_none() ? 0 : labels.cast<int64_t>());
           }),
           py::arg("shape"), py::arg("levels"), py::arg("labels") = py::none(),
           "Space(shape=(5, 5), levels=2, labels=None): fixed-shape tensors, e.g. Space((1, 28, 28), 256, labels=10).")
      .def_static("sequence", &Space::sequence, py::arg("max_length"), py::arg("levels"),
                  "Variable-length token sequences of length 0..max_length over `levels` tokens.")
      .def_static(
          "from_dict", [](py::dict d) { return Space::from_json(from_py(d, "space")); }, py::arg("spec"),
          "The space a config's 'space' section describes, e.g. {'shape': [5, 5], 'levels': 2}.")
      .def_property_readonly(
          "shape", [](const Space& s) { return py::tuple(py::cast(s.shape())); }, "The shape of one sample.")
      .def_property_readonly("levels", &Space::levels, "The number of values a position takes.")
      .def_property_readonly(
          "labels", [](const Space& s) -> py::object { return s.has_labels() ? py::object(py::int_(s.labels())) : py::none(); },
          "The number of labels, or None.")
      .def_property_readonly("dims", &Space::dims, "D, the number of positions (the maximum length for sequences).")
      .def_property_readonly("variable_length", &Space::variable_length, "Whether samples are sequences of any length.")
      .def_property_readonly("log2_size", &Space::log2_size, "log2 |X| (labels included).")
      .def("size_string", &Space::size_string, "|X| as text, e.g. '2^25 = 33554432'.")
      .def("to_dict", [](const Space& s) { return to_py(s.to_json()); }, "The space as a config's 'space' section.")
      .def("__eq__", [](const Space& a, const Space& b) { return a == b; })
      .def("__repr__", [](const Space& s) { return "<dgm.Space " + s.describe() + ">"; })
      .def("__str__", &Space::describe);

  py::class_<PyModel>(m, "Model",
                      "A trained generative model (from dgm.train or dgm.load). Scoring and sampling are exactly\n"
                      "those of `dgm score` and `dgm sample`; a model may be used from several threads at once.")
      .def_property_readonly(
          "kind", [](const PyModel& p) { return p.model().kind(); }, "The model type, e.g. 'mixture'.")
      .def_property_readonly(
          "space", [](const PyModel& p) { return p.space(); }, "The model's dgm.Space.")
      .def_property_readonly(
          "is_text", [](const PyModel& p) { return p.model().codec() != nullptr; },
          "Whether the model has a text codec (it then takes and returns str).")
      .def("log_prob", &PyModel::log_prob, py::arg("x"), py::arg("labels") = py::none(), py::arg("threads") = 0,
           "log_prob(x, labels=None, threads=0) -> float64 array (N,): exact log P(x) in nats, as `dgm score`.\n\n"
           "x: an integer array (N, *space.shape) with values in {0..levels-1} (uint8 is read as it is); a list\n"
           "of 1-D arrays on a variable-length space; str or a list of str for a text model. On a labeled\n"
           "space, labels (N,) give log P(x | y) (-1: unknown), and without them the marginal\n"
           "log sum_y P(y) P(x | y). -inf for a sample of probability zero. dgm.DataError (a ValueError)\n"
           "names the row, position and value of a sample outside the space.")
      .def("sample", &PyModel::sample, py::arg("n"), py::arg("seed") = 1, py::arg("label") = py::none(),
           py::arg("temperature") = 1.0, py::arg("threads") = 0,
           "sample(n, seed=1, label=None, temperature=1.0, threads=0): n samples, those of\n"
           "`dgm sample -n n -s seed [-l label] [-T temperature]` whatever the thread count.\n\n"
           "Returns an array (n, *space.shape) (uint8 for up to 256 levels); a list of str for a text model;\n"
           "a list of 1-D arrays on a variable-length space; on a labeled space a tuple (x, labels), label\n"
           "None drawing each sample's label from the model.")
      .def("complete", &PyModel::complete, py::arg("x"), py::arg("known_mask") = py::none(), py::arg("seed") = 1,
           py::arg("label") = py::none(), py::arg("temperature") = 1.0, py::arg("threads") = 0,
           "complete(x, known_mask, seed=1, label=None, temperature=1.0, threads=0): fills in the positions\n"
           "of x where known_mask (same shape, bool) is False, given the others, as `dgm sample --given`.\n"
           "On a variable-length space (text) each row of x is a prefix to continue: known_mask=None.\n"
           "Returns what sample() returns. Models that cannot complete such a mask raise dgm.DataError.")
      .def("save", &PyModel::save, py::arg("path"),
           "save(path): writes the model file (atomically), which `dgm` and dgm.load read.")
      .def("describe", &PyModel::describe,
           "describe() -> dict: the model file's header, as `dgm info --json` prints it (kind, space,\n"
           "config, metrics, training record, 'describe': hyperparameters and sizes).")
      .def("label_log_prior", &PyModel::label_log_prior,
           "label_log_prior() -> float64 array (L,): log P(y) of every label (labeled models).")
      .def("to_bytes", &PyModel::to_bytes,
           "to_bytes() -> bytes: the model file save() writes (dgm.from_bytes reads it back).")
      .def(py::pickle([](const PyModel& p) { return py::make_tuple(p.to_bytes()); },
                      [](py::tuple t) {
                        if (t.size() != 1) throw FormatError("pickle: not the state of a dgm.Model");
                        return from_bytes(t[0].cast<std::string>(), "<pickle>");
                      }))
      .def("__repr__", &PyModel::repr);

  m.def("load", &load, py::arg("path"),
        "load(path) -> Model: reads a model file written by `dgm train` or Model.save (or an ARPA file).\n"
        "dgm.IoError (an OSError) when it cannot be read, dgm.FormatError when it is not a dgm model.");
  m.def(
      "from_bytes", [](py::bytes b) { return from_bytes(std::string(b), "<bytes>"); }, py::arg("data"),
      "from_bytes(data) -> Model: a model from the bytes of a model file (Model.to_bytes, open(f).read()).");
  m.def("train", &train, py::arg("config"), py::arg("callback") = py::none(), py::kw_only(),
        py::arg("data") = py::none(), py::arg("labels") = py::none(), py::arg("validation") = py::none(),
        py::arg("validation_labels") = py::none(), py::arg("threads") = 0,
        "train(config, callback=None, *, data=None, labels=None, validation=None, validation_labels=None,\n"
        "      threads=0, **overrides) -> Model\n\n"
        "Fits a model as `dgm train --config` does (same config keys, seed, data splits and fit: the model\n"
        "is the one `dgm train --reproducible` writes). config: a dict or the path of a JSON config (whose\n"
        "data paths are relative to its folder; a dict's to the current one). overrides: config keys with\n"
        "'__' for '.', e.g. model__components=20, or **{'data.train': 'x.txt'}, as `--set`.\n"
        "data (and labels, validation, validation_labels): NumPy arrays to train on instead of the\n"
        "config's 'data' section (the config then needs 'space').\n"
        "callback(step: dict) is called after every epoch or EM iteration with unit, step, total,\n"
        "train_nll, valid_nll (nats per sample), learning_rate, best; returning False stops training\n"
        "with the best parameters so far. Ctrl-C stops it too and raises KeyboardInterrupt. Messages go\n"
        "to the 'dgm' logger (logging).");
  m.def(
      "model_kinds",
      [] {
        py::list out;
        for (const ModelKind& k : model_kinds()) {
          py::dict d;
          d["name"] = k.name;
          d["summary"] = k.summary;
          d["test_config"] = to_py(json::parse(k.test_config));
          out.append(d);
        }
        return out;
      },
      "model_kinds() -> list of dict: every model type (name, summary, and test_config: a small, fast\n"
      "{'model': ..., 'train': ...} on which dgm's own tests fit it to tiny spaces).");
  m.def("read", &read, py::arg("path"), py::arg("space"), py::arg("format") = "",
        "read(path, space, format='', **options): a dataset file in any format dgm reads (grid, lines,\n"
        "csv, jsonl, image, idx, cifar, npy; format '' detects it) as an array (N, *space.shape), or\n"
        "(x, labels) on a labeled space. options: source keys such as labels='t10k-labels-idx1-ubyte.gz',\n"
        "threshold=128.");
}

}  // namespace dgm::python

PYBIND11_MODULE(dgm, m) { dgm::python::define_module(m); }

// Seeded synthetic regression problems (kappa/synthetic.hpp).
//
// All randomness comes from one std::mt19937_64 per call, seeded from the specification, so
// the data depend on the specification alone (never on Armadillo's global RNG). The draws are
// made in a fixed order; the design is drawn before any noise, so changing `noise` changes
// the targets but never the design.

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/data/synthetic.hpp"

namespace kappa {
namespace {

using Rng = std::mt19937_64;

// ---------------------------------------------------------------------------------------------
// Random building blocks.

void fill_gaussian(Mat& values, Rng& rng) {
  std::normal_distribution<real> normal(0.0, 1.0);
  for (real& value : values) value = normal(rng);
}

Mat gaussian_matrix(Index rows, Index cols, Rng& rng) {
  Mat values(rows, cols);
  fill_gaussian(values, rng);
  return values;
}

Vec gaussian_vector(Index size, Rng& rng) {
  Vec values(size);
  fill_gaussian(values, rng);
  return values;
}

}  // namespace

// Haar-distributed orthonormal columns (rows >= cols) by Stewart's method (G. W. Stewart, "The
// efficient generation of random orthogonal matrices with an application to condition
// estimators", SIAM J. Numer. Anal. 17(3), 1980). Q of the QR factorization of a Gaussian matrix,
// with the signs that make diag(R) > 0, is Haar; Householder QR builds its j-th reflector from a
// column that the earlier reflectors have rotated, and since they depend only on earlier columns
// and the Gaussian is rotation invariant, that column is a fresh Gaussian vector of length
// rows - j. So the reflectors are made directly from such vectors, drawn column by column: the
// same distribution from about half the draws and no factorization (600 x 600: 15 ms against 33,
// docs/performance.md). Q = H_1 ... H_cols D is then formed by LAPACK's orgqr, D_jj the sign of
// the diagonal R_jj = beta_j the reflector produces.
Mat detail::haar_orthonormal(Index rows, Index cols, Rng& rng) {
  if (rows < cols) throw std::logic_error("haar_orthonormal: needs rows >= cols");
  std::normal_distribution<real> normal(0.0, 1.0);
  Mat reflectors(rows, cols, arma::fill::zeros);
  Vec tau(cols, arma::fill::zeros);
  std::vector<bool> flip(cols, false);
  for (Index j = 0; j < cols; ++j) {
    real* x = reflectors.colptr(j) + j;  // x_j, of length rows - j, in rows j.. of column j
    const Index length = rows - j;
    for (Index i = 0; i < length; ++i) x[i] = normal(rng);
    // The reflector H = I - tau v v^T with H x = beta e_1, v_1 = 1 (LAPACK's larfg): beta takes
    // the sign opposite to x_1, so that v = x - beta e_1 has no cancellation.
    const real alpha = x[0];
    const real tail = length > 1 ? arma::norm(Vec(x + 1, length - 1, false, true)) : 0;
    real beta = alpha;
    if (tail > 0) {
      beta = -std::copysign(std::hypot(alpha, tail), alpha);
      tau(j) = (beta - alpha) / beta;
      const real scale = 1 / (alpha - beta);
      for (Index i = 1; i < length; ++i) x[i] *= scale;
    }
    x[0] = beta;
    flip[j] = beta < 0;
  }
  arma::blas_int m = static_cast<arma::blas_int>(rows), n = static_cast<arma::blas_int>(cols), k = n, info = 0;
  arma::blas_int work_size = -1;
  real work_query = 0;
  arma::lapack::orgqr(&m, &n, &k, reflectors.memptr(), &m, tau.memptr(), &work_query, &work_size, &info);
  work_size = std::max<arma::blas_int>(static_cast<arma::blas_int>(work_query), n);
  std::vector<real> work(static_cast<std::size_t>(work_size));
  if (info == 0) arma::lapack::orgqr(&m, &n, &k, reflectors.memptr(), &m, tau.memptr(), work.data(), &work_size, &info);
  if (info != 0) throw NumericalError("synthetic data: forming the random orthonormal matrix failed (LAPACK orgqr info " +
                                      std::to_string(info) + ")");
  for (Index j = 0; j < cols; ++j)
    if (flip[j]) reflectors.col(j) *= -1.0;
  return reflectors;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Spectrum problems.

std::string round_trip_text(real value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest exact
  return std::string(buffer, result.ptr);
}

const char* profile_name(SpectrumProfile profile) {
  switch (profile) {
    case SpectrumProfile::geometric: return "geometric";
    case SpectrumProfile::linear: return "linear";
    case SpectrumProfile::clustered: return "clustered";
  }
  return "?";
}

std::string describe(const SpectrumSpec& spec) {
  return "kind=spectrum,n=" + std::to_string(spec.n) + ",d=" + std::to_string(spec.d) +
         ",cond=" + round_trip_text(spec.condition) + ",profile=" + profile_name(spec.profile) +
         ",noise=" + round_trip_text(spec.noise) + ",n_test=" + std::to_string(spec.n_test) +
         ",seed=" + std::to_string(spec.seed);
}

void require(bool condition, const std::string& message) {
  if (!condition) throw InputError(message);
}

// A problem whose matrix alone exceeds this machine's memory is refused in kappa's words before
// anything is allocated (Armadillo would say "requested size is too large", or the allocation
// would take the machine down). `rows` x `columns` doubles, counted without overflow.
void require_fits(const std::string& what, std::uint64_t rows, std::uint64_t columns) {
  const long double bytes = static_cast<long double>(rows) * static_cast<long double>(columns) * sizeof(real);
  const long double memory = static_cast<long double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<long double>(::sysconf(_SC_PAGE_SIZE));
  if (memory <= 0 || bytes <= memory) return;
  char text[160];
  std::snprintf(text, sizeof text, "%llu x %llu values (%.3Lg bytes) are more than this machine's memory (%.3Lg bytes)",
                static_cast<unsigned long long>(rows), static_cast<unsigned long long>(columns), bytes, memory);
  throw InputError(what + text);
}

void check(const SpectrumSpec& spec) {
  const std::string what = "spectrum problem '" + describe(spec) + "': ";
  require(spec.n >= 1 && spec.d >= 1, what + "n and d must be >= 1");
  require_fits(what, spec.n + spec.n_test, spec.d);
  require(std::isfinite(spec.condition) && spec.condition >= 1.0,
          what + "cond must be a finite number >= 1");
  require(std::isfinite(spec.noise) && spec.noise >= 0.0,
          what + "noise must be a finite number >= 0");
  // One singular value always has condition 1; anything else cannot be delivered.
  require(std::min(spec.n, spec.d) >= 2 || spec.condition == 1.0,
          what + "min(n, d) = 1 gives a single singular value, so cond must be 1");
  // Below 11/9 the cluster [1/cond, 1.1/cond] reaches above 0.9 and cond(X) would not be cond.
  require(spec.profile != SpectrumProfile::clustered || spec.condition >= 11.0 / 9.0,
          what + "profile=clustered needs cond >= 11/9 (about 1.222) so the clusters do not "
                 "overlap");
}

// Position of i among `count` evenly spaced points of [0, 1]; 0 when there is only one.
real fraction(Index i, Index count) { return count > 1 ? real(i) / real(count - 1) : 0.0; }

// sigma_1 >= ... >= sigma_k from 1 down to 1/cond, by the formulas in synthetic.hpp (with the
// index there 1-based, here 0-based).
Vec singular_values(Index k, real condition, SpectrumProfile profile) {
  Vec sigma(k);
  const Index upper_count = (k + 1) / 2;  // ceil(k/2), for the clustered profile
  const Index lower_count = k - upper_count;
  for (Index i = 0; i < k; ++i) {
    switch (profile) {
      case SpectrumProfile::geometric:
        sigma(i) = std::pow(condition, -fraction(i, k));
        break;
      case SpectrumProfile::linear:
        sigma(i) = 1.0 - (1.0 - 1.0 / condition) * fraction(i, k);
        break;
      case SpectrumProfile::clustered:
        // A cluster of one keeps the end that fixes the condition: 1 above, 1/cond below.
        sigma(i) = i < upper_count
                       ? 1.0 - 0.1 * fraction(i, upper_count)
                       : (1.0 + 0.1 * fraction(k - 1 - i, lower_count)) / condition;
        break;
    }
  }
  return sigma;
}

}  // namespace

Dataset generate(const SpectrumSpec& spec) {
  check(spec);
  Rng rng(spec.seed);
  const Index k = std::min(spec.n, spec.d);
  const Vec sigma = singular_values(k, spec.condition, spec.profile);
  const Mat U = detail::haar_orthonormal(spec.n, k, rng);
  const Mat V = detail::haar_orthonormal(spec.d, k, rng);
  const Mat sigma_Vt = arma::diagmat(sigma) * V.t();  // k x d, shared by train and test rows
  const Vec w_true = gaussian_vector(spec.d, rng) / std::sqrt(real(spec.d));

  Dataset data;
  data.X_train = U * sigma_Vt;
  data.y_train = data.X_train * w_true + spec.noise * gaussian_vector(spec.n, rng);
  if (spec.n_test > 0) {
    // A row of the Haar U is close to N(0, I_k / n); fresh Gaussian rows get the same scale so
    // that test rows follow the distribution of the training rows.
    const Mat test_rows = gaussian_matrix(spec.n_test, k, rng) / std::sqrt(real(spec.n));
    data.X_test = test_rows * sigma_Vt;
    data.y_test = data.X_test * w_true + spec.noise * gaussian_vector(spec.n_test, rng);
  }
  data.source = describe(spec);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Kernel problems.

namespace {

const char* kernel_name(KernelKind kernel) {
  return kernel == KernelKind::gaussian ? "gaussian" : "laplacian";
}

std::string describe(const KernelSpec& spec) {
  return std::string("kind=kernel,kernel=") + kernel_name(spec.kernel) +
         ",n=" + std::to_string(spec.n) + ",n_test=" + std::to_string(spec.n_test) +
         ",input_dim=" + std::to_string(spec.input_dim) + ",width=" + round_trip_text(spec.width) +
         ",noise=" + round_trip_text(spec.noise) + ",seed=" + std::to_string(spec.seed);
}

constexpr real kMinimumWidth = 1e-100;

void check(const KernelSpec& spec) {
  const std::string what = "kernel problem '" + describe(spec) + "': ";
  require(spec.n >= 1, what + "n must be >= 1");
  require(spec.input_dim >= 1, what + "input_dim must be >= 1");
  require_fits(what, spec.n + spec.n_test, std::max(spec.n, spec.input_dim));
  require(std::isfinite(spec.width) && spec.width > 0.0, what + "width must be a finite number > 0");
  // Below this, 2 width^2 underflows to 0 and the Gaussian kernel's diagonal becomes 0/0 = NaN.
  require(spec.width >= kMinimumWidth,
          what + "width must be >= " + format_number(kMinimumWidth) + " (a smaller width^2 underflows)");
  require(std::isfinite(spec.noise) && spec.noise >= 0.0,
          what + "noise must be a finite number >= 0");
}

Mat uniform_points(Index count, Index dim, Rng& rng) {
  std::uniform_real_distribution<real> uniform(0.0, 1.0);
  Mat points(count, dim);
  for (real& value : points) value = uniform(rng);
  return points;
}

KernelPoints draw_points(const KernelSpec& spec, Rng& rng) {
  KernelPoints points;
  points.train = uniform_points(spec.n, spec.input_dim, rng);
  points.test = uniform_points(spec.n_test, spec.input_dim, rng);
  return points;
}

real kernel_value(const KernelSpec& spec, real squared_distance) {
  if (spec.kernel == KernelKind::gaussian)
    return std::exp(-squared_distance / (2.0 * spec.width * spec.width));
  return std::exp(-std::sqrt(squared_distance) / spec.width);
}

// K(i, j) = k(row i of `left`, row j of `right`). Distances are summed coordinate by coordinate
// rather than via |a|^2 + |b|^2 - 2 a.b: that keeps K(A, A) exactly symmetric with an exact unit
// diagonal and never produces a negative squared distance.
Mat kernel_matrix(const KernelSpec& spec, const Mat& left, const Mat& right) {
  const Mat left_columns = left.t();  // one point per column: contiguous coordinates
  const Mat right_columns = right.t();
  Mat K(left.n_rows, right.n_rows);
  for (Index j = 0; j < right.n_rows; ++j)
    for (Index i = 0; i < left.n_rows; ++i) {
      const real squared_distance =
          arma::accu(arma::square(left_columns.col(i) - right_columns.col(j)));
      K(i, j) = kernel_value(spec, squared_distance);
    }
  return K;
}

// y = sin(2 pi s) + s^2 with s the mean coordinate of each point (one point per row).
Vec smooth_targets(const Mat& points) {
  const Vec mean_coordinate = arma::mean(points, 1);
  return arma::sin(2.0 * arma::datum::pi * mean_coordinate) + arma::square(mean_coordinate);
}

}  // namespace

KernelPoints kernel_points(const KernelSpec& spec) {
  check(spec);
  Rng rng(spec.seed);
  return draw_points(spec, rng);
}

Dataset generate(const KernelSpec& spec) {
  check(spec);
  Rng rng(spec.seed);
  const KernelPoints points = draw_points(spec, rng);
  Dataset data;
  data.X_train = kernel_matrix(spec, points.train, points.train);
  data.y_train = smooth_targets(points.train) + spec.noise * gaussian_vector(spec.n, rng);
  if (spec.n_test > 0) {
    data.X_test = kernel_matrix(spec, points.test, points.train);
    data.y_test = smooth_targets(points.test) + spec.noise * gaussian_vector(spec.n_test, rng);
  }
  data.source = describe(spec);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Specification strings.

namespace {

struct Entry {
  std::string key;
  std::string value;
};

constexpr const char* kSpecWhat = "synthetic spec";
const std::string kSpecPrefix = std::string(kSpecWhat) + ": ";


Entry parse_entry(const std::string& text) {
  const std::size_t equals = text.find('=');
  const std::string key = trim(text.substr(0, equals));
  if (equals == std::string::npos || key.empty())
    throw InputError(kSpecPrefix + "entry '" + text + "' is not of the form key=value");
  return Entry{key, trim(text.substr(equals + 1))};
}

[[noreturn]] void bad_value(const Entry& entry, const std::string& expected) {
  throw InputError(kSpecPrefix + "key '" + entry.key + "' has value '" + entry.value +
                   "', expected " + expected);
}

// The shared strict conversions of parse.hpp decide what is a number; a refusal is reported
// here in the "key 'k' has value 'v', expected ..." form, together with the range.
std::optional<real> to_real(const std::string& text) {
  try {
    return parse_real(text, kSpecWhat);
  } catch (const InputError&) {
    return std::nullopt;
  }
}

std::optional<long long> to_integer(const std::string& text) {
  try {
    return parse_integer(text, kSpecWhat);
  } catch (const InputError&) {
    return std::nullopt;
  }
}

template <typename Accept>
real real_value(const Entry& entry, const std::string& expected, Accept accept) {
  const std::optional<real> value = to_real(entry.value);
  if (!value || !accept(*value)) bad_value(entry, expected);
  return *value;
}

std::uint64_t count_value(const Entry& entry, long long minimum) {
  const std::optional<long long> value = to_integer(entry.value);
  if (!value || *value < minimum) bad_value(entry, "an integer >= " + std::to_string(minimum));
  return static_cast<std::uint64_t>(*value);
}

SpectrumProfile profile_value(const Entry& entry) {
  if (entry.value == "geometric") return SpectrumProfile::geometric;
  if (entry.value == "linear") return SpectrumProfile::linear;
  if (entry.value == "clustered") return SpectrumProfile::clustered;
  bad_value(entry, "'geometric', 'linear' or 'clustered'");
}

KernelKind kernel_kind_value(const Entry& entry) {
  if (entry.value == "gaussian") return KernelKind::gaussian;
  if (entry.value == "laplacian") return KernelKind::laplacian;
  bad_value(entry, "'gaussian' or 'laplacian'");
}

bool at_least_one(real value) { return value >= 1.0; }
bool non_negative(real value) { return value >= 0.0; }
bool positive(real value) { return value > 0.0; }

// One line per key of a kind: its name, what it means, how a value sets it and how its default
// reads. The parser, its "known:" list and the help text (synthetic_spec_help) all derive from it.
template <typename Spec>
struct SpecKey {
  const char* key;
  const char* meaning;
  void (*set)(Spec&, const Entry&);
  std::string (*show)(const Spec&);
};

const SpecKey<SpectrumSpec> kSpectrumKeys[] = {
    {"n", "training rows", [](SpectrumSpec& s, const Entry& e) { s.n = count_value(e, 1); },
     [](const SpectrumSpec& s) { return std::to_string(s.n); }},
    {"d", "columns (features)", [](SpectrumSpec& s, const Entry& e) { s.d = count_value(e, 1); },
     [](const SpectrumSpec& s) { return std::to_string(s.d); }},
    {"n_test", "test rows", [](SpectrumSpec& s, const Entry& e) { s.n_test = count_value(e, 0); },
     [](const SpectrumSpec& s) { return std::to_string(s.n_test); }},
    {"cond", "condition number of X (>= 1)",
     [](SpectrumSpec& s, const Entry& e) { s.condition = real_value(e, "a number >= 1", at_least_one); },
     [](const SpectrumSpec& s) { return round_trip_text(s.condition); }},
    {"profile", "how the singular values fall: geometric, linear or clustered",
     [](SpectrumSpec& s, const Entry& e) { s.profile = profile_value(e); },
     [](const SpectrumSpec& s) { return std::string(profile_name(s.profile)); }},
    {"noise", "standard deviation of the Gaussian noise on y",
     [](SpectrumSpec& s, const Entry& e) { s.noise = real_value(e, "a number >= 0", non_negative); },
     [](const SpectrumSpec& s) { return round_trip_text(s.noise); }},
    {"seed", "random seed", [](SpectrumSpec& s, const Entry& e) { s.seed = count_value(e, 0); },
     [](const SpectrumSpec& s) { return std::to_string(s.seed); }},
};

const SpecKey<KernelSpec> kKernelKeys[] = {
    {"kernel", "gaussian or laplacian", [](KernelSpec& s, const Entry& e) { s.kernel = kernel_kind_value(e); },
     [](const KernelSpec& s) { return std::string(kernel_name(s.kernel)); }},
    {"n", "training points (the design is n x n)", [](KernelSpec& s, const Entry& e) { s.n = count_value(e, 1); },
     [](const KernelSpec& s) { return std::to_string(s.n); }},
    {"n_test", "test points", [](KernelSpec& s, const Entry& e) { s.n_test = count_value(e, 0); },
     [](const KernelSpec& s) { return std::to_string(s.n_test); }},
    {"input_dim", "dimension of the points (uniform in [0, 1]^input_dim)",
     [](KernelSpec& s, const Entry& e) { s.input_dim = count_value(e, 1); },
     [](const KernelSpec& s) { return std::to_string(s.input_dim); }},
    {"width", "kernel width (> 0)", [](KernelSpec& s, const Entry& e) { s.width = real_value(e, "a number > 0", positive); },
     [](const KernelSpec& s) { return round_trip_text(s.width); }},
    {"noise", "standard deviation of the Gaussian noise on y",
     [](KernelSpec& s, const Entry& e) { s.noise = real_value(e, "a number >= 0", non_negative); },
     [](const KernelSpec& s) { return round_trip_text(s.noise); }},
    {"seed", "random seed", [](KernelSpec& s, const Entry& e) { s.seed = count_value(e, 0); },
     [](const KernelSpec& s) { return std::to_string(s.seed); }},
};

const auto& keys_of(const SpectrumSpec&) { return kSpectrumKeys; }
const auto& keys_of(const KernelSpec&) { return kKernelKeys; }
const char* kind_name(const SpectrumSpec&) { return "spectrum"; }
const char* kind_name(const KernelSpec&) { return "kernel"; }

template <typename Spec>
void set_key(Spec& spec, const Entry& entry) {
  for (const SpecKey<Spec>& key : keys_of(spec))
    if (entry.key == key.key) return key.set(spec, entry);
  if (entry.key == "kind") throw InputError(kSpecPrefix + "key 'kind' may only be the first entry");
  std::string known;
  for (const SpecKey<Spec>& key : keys_of(spec)) known += (known.empty() ? "" : ", ") + std::string(key.key);
  throw InputError(kSpecPrefix + "unknown key '" + entry.key + "' for kind=" + kind_name(spec) + " (known: " + known + ")");
}

template <typename Spec>
std::string keys_help(const Spec& defaults) {
  std::string text = std::string("kind=") + kind_name(defaults) + ":\n";
  for (const SpecKey<Spec>& key : keys_of(defaults)) {
    const std::string name = std::string("  ") + key.key + " (=" + key.show(defaults) + ")";
    text += name + std::string(name.size() < 24 ? 24 - name.size() : 1, ' ') + key.meaning + "\n";
  }
  return text;
}

// Applies entries[1..] to the defaults of Spec. A key given twice is an error: the second value
// would silently win, which is more likely a typo than an intention.
template <typename Spec>
Spec parse_keys(const std::vector<std::string>& entries) {
  Spec spec;
  std::set<std::string> seen;
  for (std::size_t i = 1; i < entries.size(); ++i) {
    const Entry entry = parse_entry(entries[i]);
    if (!seen.insert(entry.key).second)
      throw InputError(kSpecPrefix + "key '" + entry.key + "' given twice");
    set_key(spec, entry);
  }
  return spec;
}

std::variant<SpectrumSpec, KernelSpec> parse_entries(const std::vector<std::string>& entries) {
  // "seedlike" is the KernelSpec defaults, which are the shape of the seed question's data.
  if (entries.front() == "seedlike") return parse_keys<KernelSpec>(entries);
  const Entry kind = parse_entry(entries.front());
  if (kind.key != "kind")
    throw InputError(kSpecPrefix + "must start with kind=spectrum, kind=kernel or seedlike, got '" +
                     entries.front() + "'");
  if (kind.value == "spectrum") return parse_keys<SpectrumSpec>(entries);
  if (kind.value == "kernel") return parse_keys<KernelSpec>(entries);
  bad_value(kind, "'spectrum' or 'kernel'");
}

}  // namespace

Dataset generate_from_spec(const std::string& spec) {
  Dataset data = std::visit([](const auto& parsed) { return generate(parsed); }, parse_entries(split_list(spec, kSpecWhat)));
  data.source = spec;
  return data;
}

std::string synthetic_spec_help() {
  return keys_help(SpectrumSpec{}) + keys_help(KernelSpec{}) +
         "seedlike: kind=kernel with the defaults above (the seed question's shape), keys may follow\n";
}

SyntheticShape check_spec(const std::string& spec) {
  const std::variant<SpectrumSpec, KernelSpec> parsed = parse_entries(split_list(spec, kSpecWhat));
  if (const auto* spectrum = std::get_if<SpectrumSpec>(&parsed)) {
    check(*spectrum);
    return {spectrum->n, spectrum->d};
  }
  const KernelSpec& kernel = std::get<KernelSpec>(parsed);
  check(kernel);
  return {kernel.n, kernel.n};
}

}  // namespace kappa

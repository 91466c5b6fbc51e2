#define BOOST_TEST_MODULE params
#include <boost/test/unit_test.hpp>

#include <kappa/error.hpp>
#include <kappa/params.hpp>
#include <kappa/parse.hpp>

using namespace kappa;

namespace {

ParamSchema schema() {
  ParamSpec lr = real_param("lr", "auto", "step size", 0.0, true);
  lr.keyword = "auto";
  return {lr, integer_param("history", "10", "memory", 1, 1000), choice_param("line_search", "strong_wolfe", "kind", {"strong_wolfe", "none"}),
          bool_param("average", "false", "averaging")};
}

// The InputError message, or "" when nothing was thrown.
std::string error_of(const RawParams& given) {
  try {
    Params::validate(schema(), given, "optimizer 'x'");
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(defaults_fill_missing_values) {
  const Params params = Params::validate(schema(), {}, "optimizer 'x'");
  BOOST_TEST(params.is_auto("lr"));
  BOOST_TEST(params.get_integer("history") == 10);
  BOOST_TEST(params.get_choice("line_search") == "strong_wolfe");
  BOOST_TEST(params.get_bool("average") == false);
}

BOOST_AUTO_TEST_CASE(given_values_are_parsed) {
  const Params params = Params::validate(schema(), {{"lr", "2.5e-3"}, {"history", "1e2"}, {"line_search", "none"}, {"average", "yes"}}, "o");
  BOOST_TEST(!params.is_auto("lr"));
  BOOST_TEST(params.get_real("lr") == 2.5e-3);
  BOOST_TEST(params.get_integer("history") == 100);
  BOOST_TEST(params.get_choice("line_search") == "none");
  BOOST_TEST(params.get_bool("average"));
  BOOST_TEST(params.as_text().at("lr") == "2.5e-3");
}

BOOST_AUTO_TEST_CASE(unknown_name_is_an_error_naming_the_key_and_the_known_ones) {
  const std::string message = error_of({{"learning_rate", "0.1"}});
  BOOST_TEST(contains(message, "optimizer 'x'"));
  BOOST_TEST(contains(message, "'learning_rate'"));
  BOOST_TEST(contains(message, "lr, history"));
}

BOOST_AUTO_TEST_CASE(bad_values_are_errors_naming_key_and_value) {
  BOOST_TEST(contains(error_of({{"lr", "-0.1"}}), "'lr' = '-0.1' is out of range"));
  BOOST_TEST(contains(error_of({{"lr", "0"}}), "'lr' = '0'"));  // exclusive lower bound
  BOOST_TEST(contains(error_of({{"lr", "fast"}}), "'fast' is not a number"));
  BOOST_TEST(contains(error_of({{"lr", "nan"}}), "'lr'"));
  BOOST_TEST(contains(error_of({{"lr", "1e-3x"}}), "'lr'"));
  BOOST_TEST(contains(error_of({{"history", "0"}}), "'history' = '0'"));
  BOOST_TEST(contains(error_of({{"history", "2.5"}}), "not an integer"));
  BOOST_TEST(contains(error_of({{"line_search", "wolfe"}}), "strong_wolfe|none"));
  BOOST_TEST(contains(error_of({{"average", "maybe"}}), "'average'"));
}

BOOST_AUTO_TEST_CASE(domain_texts) {
  const ParamSchema specs = schema();
  BOOST_TEST(specs[0].domain() == "real > 0 or auto");
  BOOST_TEST(specs[1].domain() == "integer in [1, 1000]");
  BOOST_TEST(specs[2].domain() == "strong_wolfe|none");
}

BOOST_AUTO_TEST_CASE(strict_parsing_helpers) {
  BOOST_TEST(parse_real(" 1e-3 ", "x") == 1e-3);
  BOOST_CHECK_THROW(parse_real("", "x"), InputError);
  BOOST_CHECK_THROW(parse_real("inf", "x"), InputError);
  BOOST_CHECK_THROW(parse_real("1e999", "x"), InputError);
  BOOST_CHECK_THROW(parse_real("-1e999", "x"), InputError);
  BOOST_TEST(parse_integer("42", "x") == 42);
  BOOST_CHECK_THROW(parse_integer("4.2", "x"), InputError);
  const auto items = split_list("a, b,c", "x");
  BOOST_TEST(items.size() == 3u);
  BOOST_TEST(items[1] == "b");
  BOOST_CHECK_THROW(split_list("a,,b", "x"), InputError);
  const auto pairs = parse_key_values("n=3, cond=1e6,flag", "spec");
  BOOST_TEST(pairs.at("cond") == "1e6");
  BOOST_TEST(pairs.at("flag").empty());
  BOOST_CHECK_THROW(parse_key_values("n=3,n=4", "spec"), InputError);
}

BOOST_AUTO_TEST_CASE(underflow_is_accepted_overflow_is_not) {
  // strtod reports ERANGE for both; only overflow makes the value unusable.
  BOOST_TEST(parse_real("1e-320", "x") == 1e-320);  // subnormal
  BOOST_TEST(parse_real("-4.9e-324", "x") == -4.9e-324);
  BOOST_TEST(parse_real("1e-400", "x") == 0.0);  // below the smallest subnormal: rounds to 0
  BOOST_TEST(parse_real("2.2250738585072014e-308", "x") == 2.2250738585072014e-308);  // smallest normal
  BOOST_TEST(contains(error_of({{"lr", "1e999"}}), "'1e999' is not a finite number"));
  BOOST_TEST(error_of({{"lr", "1e-320"}}).empty());
}

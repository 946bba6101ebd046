// config_test.cc — checked config reads, unknown keys and --set overrides.
#include "dgm/config.h"

#include <gtest/gtest.h>

#include "dgm/error.h"

namespace dgm {
namespace {

TEST(Config, ReadsWithDefaultsAndRanges) {
  json j = json::parse(R"({"components": 20, "alpha": 0.5, "init": "data"})");
  ConfigSection s(j, "model");
  EXPECT_EQ(s.get_int("components", 10, 1, 1000), 20);
  EXPECT_EQ(s.get_int("restarts", 3, 1, 100), 3);
  EXPECT_DOUBLE_EQ(s.get_double("alpha", 1.0, 0.0, 10.0), 0.5);
  EXPECT_EQ(s.get_choice("init", "random", {"random", "data"}), "data");
  EXPECT_NO_THROW(s.finish());
  EXPECT_EQ(s.effective()["restarts"], 3);
}

TEST(Config, UnknownKeyIsAnError) {
  json j = json::parse(R"({"componets": 20})");
  ConfigSection s(j, "model");
  s.get_int("components", 10, 1, 1000);
  try {
    s.finish();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "model: unknown key 'componets' (known: components)");
  }
}

TEST(Config, OutOfRangeAndWrongType) {
  json j = json::parse(R"({"components": 1e12, "alpha": "x", "k": 2.5})");
  ConfigSection s(j, "model");
  EXPECT_THROW(s.get_int("components", 10, 1, 100000), ConfigError);
  EXPECT_THROW(s.get_double("alpha", 1.0, 0.0, 1.0), ConfigError);
  EXPECT_THROW(s.get_int("k", 1, 0, 10), ConfigError);
}

TEST(Config, Overrides) {
  json cfg = json::parse(R"({"model": {"type": "mixture"}})");
  apply_override(cfg, "model.components=20");
  apply_override(cfg, "model.type=independent");
  apply_override(cfg, "train.seed=3");
  EXPECT_EQ(cfg["model"]["components"], 20);
  EXPECT_EQ(cfg["model"]["type"], "independent");
  EXPECT_EQ(cfg["train"]["seed"], 3);
  EXPECT_THROW(apply_override(cfg, "novalue"), ConfigError);
  EXPECT_THROW(apply_override(cfg, "model.type.x=1"), ConfigError);
}

}  // namespace
}  // namespace dgm

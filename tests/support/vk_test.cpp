#include "vk_test.hpp"

namespace vkattn::test {

LogCallback LogCapture::callback() {
  return [this](LogLevel level, std::string_view message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (message.rfind("validation:", 0) == 0) {
      validation_.emplace_back(message);
    } else if (level != LogLevel::kInfo) {
      warnings_.emplace_back(message);
    }
  };
}

std::vector<std::string> LogCapture::validation_messages() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return validation_;
}

std::vector<std::string> LogCapture::warnings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return warnings_;
}

void LogCapture::add_validation_message(std::string message) {
  std::lock_guard<std::mutex> lock(mutex_);
  validation_.push_back("validation: " + message);
}

void expect_no_validation_messages(const LogCapture& log) {
  for (const std::string& m : log.validation_messages()) ADD_FAILURE() << m;
}

ContextOptions VkTest::test_options() const {
  ContextOptions o;
  o.enable_validation = true;
  o.log = log_->callback();
  o.pipeline_cache.persist = false;
  return o;
}

std::unique_ptr<Context> VkTest::make_context(ContextOptions options) {
  Result<std::unique_ptr<Context>> c = Context::create(options);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  if (!c) return nullptr;
  return std::move(c).value();
}

void VkTest::SetUp() {
  ctx_ = make_context(test_options());
  ASSERT_NE(ctx_, nullptr);
}

void VkTest::TearDown() {
  ctx_.reset();
  expect_no_validation_messages(*log_);
}

}  // namespace vkattn::test

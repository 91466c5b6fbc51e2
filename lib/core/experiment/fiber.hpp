#pragma once
// A fiber: a function run on a stack of its own that can pause itself (yield) and be continued
// (resume) by the code that runs it, on the same thread. What lets a lockstep group
// (lockstep.hpp) run k optimizers' unchanged minimize() loops side by side: each pauses where it
// asks for a gradient, and the group computes all of them in one pass over the data.
//
// POSIX ucontext (makecontext/swapcontext): a switch costs well under a microsecond, against
// several for a thread hand-off. Under AddressSanitizer the switches are announced to it
// (__sanitizer_start_switch_fiber), so that it follows the stacks.

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>

namespace kappa {

class Fiber {
 public:
  // `body` runs at the first resume(). An exception that leaves it is kept and rethrown by the
  // resume() that sees the body end. `stack_bytes` is reserved, not committed (pages are used
  // as touched); a guard page below it turns an overflow into a crash instead of corruption.
  explicit Fiber(std::function<void()> body, std::size_t stack_bytes = kDefaultStackBytes);
  ~Fiber();  // the body must have finished or never started: an unfinished one's locals would leak
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Runs the body until it yields or ends. Not from inside a fiber's own body.
  void resume();
  // From inside the body only: back to the resume() that runs it.
  void yield();
  bool finished() const { return finished_; }

#if defined(__SANITIZE_ADDRESS__)
  static constexpr std::size_t kDefaultStackBytes = 8u << 20;  // ASan's frames are larger
#else
  static constexpr std::size_t kDefaultStackBytes = 2u << 20;
#endif

 private:
  struct Context;  // the ucontext_t pair, kept out of this header
  static void entry(unsigned high, unsigned low);

  std::function<void()> body_;
  std::unique_ptr<Context> context_;
  void* stack_ = nullptr;  // the mapping, guard page first
  std::size_t mapped_bytes_ = 0;
  bool running_ = false;
  bool finished_ = false;
  std::exception_ptr error_;
};

}  // namespace kappa

#include "core/experiment/fiber.hpp"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "kappa/error.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace kappa {

struct Fiber::Context {
  ucontext_t fiber;
  ucontext_t caller;
  // AddressSanitizer's view of the two stacks (unused without it).
  void* caller_fake_stack = nullptr;
  void* fiber_fake_stack = nullptr;
  const void* caller_bottom = nullptr;
  std::size_t caller_size = 0;
};

namespace {

// Announces a switch to the stack [bottom, bottom + size); `fake_stack` saves the leaving
// stack's state (null: the leaving stack ends for good).
inline void start_switch(void** fake_stack, const void* bottom, std::size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#else
  (void)fake_stack, (void)bottom, (void)size;
#endif
}
inline void finish_switch(void* fake_stack, const void** bottom, std::size_t* size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
#else
  (void)fake_stack, (void)bottom, (void)size;
#endif
}

std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// The switch itself. Under AddressSanitizer, libc's swapcontext rather than ASan's interceptor
// of it: the switches are announced above, the interceptor's only other work (clearing the
// shadow of a reused stack) is done once per stack in the constructor, and it would print a
// warning ("ASan doesn't fully support makecontext/swapcontext") into every study's stderr.
int switch_context(ucontext_t* from, ucontext_t* to) {
#if defined(__SANITIZE_ADDRESS__)
  using Swap = int (*)(ucontext_t*, const ucontext_t*);
  static const Swap real = reinterpret_cast<Swap>(::dlsym(RTLD_NEXT, "swapcontext"));
  if (real != nullptr) return real(from, to);
#endif
  return ::swapcontext(from, to);
}

}  // namespace

Fiber::Fiber(std::function<void()> body, std::size_t stack_bytes) : body_(std::move(body)), context_(std::make_unique<Context>()) {
  const std::size_t page = page_size();
  const std::size_t usable = (stack_bytes + page - 1) / page * page;
  mapped_bytes_ = usable + page;
  stack_ = ::mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (stack_ == MAP_FAILED) {
    stack_ = nullptr;
    throw Error("fiber: cannot map a stack of " + std::to_string(mapped_bytes_) + " bytes: " + std::strerror(errno));
  }
  ::mprotect(stack_, page, PROT_NONE);  // the guard page (stacks grow down)
#if defined(__SANITIZE_ADDRESS__)
  // Memory an earlier fiber's stack used may come back from mmap with its frames still poisoned.
  ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(stack_) + page, usable);
#endif
  if (::getcontext(&context_->fiber) != 0) throw Error(std::string("fiber: getcontext: ") + std::strerror(errno));
  context_->fiber.uc_stack.ss_sp = static_cast<char*>(stack_) + page;
  context_->fiber.uc_stack.ss_size = usable;
  context_->fiber.uc_link = nullptr;  // the body never returns through uc_link: entry() switches back itself
  // makecontext passes int arguments only: the pointer in two halves.
  const auto address = reinterpret_cast<std::uintptr_t>(this);
  makecontext(&context_->fiber, reinterpret_cast<void (*)()>(&Fiber::entry), 2, static_cast<unsigned>(address >> 32),
              static_cast<unsigned>(address & 0xffffffffu));
}

Fiber::~Fiber() {
  if (stack_ != nullptr) ::munmap(stack_, mapped_bytes_);
}

void Fiber::entry(unsigned high, unsigned low) {
  auto* self = reinterpret_cast<Fiber*>((static_cast<std::uintptr_t>(high) << 32) | low);
  Context& context = *self->context_;
  finish_switch(nullptr, &context.caller_bottom, &context.caller_size);
  try {
    self->body_();
  } catch (...) {
    self->error_ = std::current_exception();
  }
  self->finished_ = true;
  start_switch(nullptr, context.caller_bottom, context.caller_size);  // this stack is done
  ::setcontext(&context.caller);
}

void Fiber::resume() {
  if (finished_) throw Error("fiber: resumed after its body ended");
  if (running_) throw Error("fiber: resumed from inside itself");
  running_ = true;
  Context& context = *context_;
  start_switch(&context.caller_fake_stack, context.fiber.uc_stack.ss_sp, context.fiber.uc_stack.ss_size);
  switch_context(&context.caller, &context.fiber);
  finish_switch(context.caller_fake_stack, nullptr, nullptr);
  running_ = false;
  if (finished_ && error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void Fiber::yield() {
  Context& context = *context_;
  start_switch(&context.fiber_fake_stack, context.caller_bottom, context.caller_size);
  switch_context(&context.fiber, &context.caller);
  finish_switch(context.fiber_fake_stack, &context.caller_bottom, &context.caller_size);
}

}  // namespace kappa

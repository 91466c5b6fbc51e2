// Counting global operator new/delete for the benchmark executable: the C++ share of the heap
// allocations that alloc_counter.c counts (each of these also calls malloc, counted there).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

#include "alloc_counter.h"

namespace {

std::atomic<unsigned long> new_calls{0};

void* allocate(std::size_t size) {
  if (alloc_counter_active()) new_calls.fetch_add(1, std::memory_order_relaxed);
  if (void* pointer = std::malloc(size ? size : 1)) return pointer;
  throw std::bad_alloc();
}

void* allocate_aligned(std::size_t size, std::align_val_t alignment) {
  if (alloc_counter_active()) new_calls.fetch_add(1, std::memory_order_relaxed);
  void* pointer = nullptr;
  const std::size_t align = std::max(static_cast<std::size_t>(alignment), sizeof(void*));
  if (posix_memalign(&pointer, align, size ? size : 1) == 0) return pointer;
  throw std::bad_alloc();
}

}  // namespace

extern "C" unsigned long alloc_counter_new_calls(void) { return new_calls.load(); }
extern "C" void alloc_counter_reset_new(void) { new_calls.store(0); }

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try { return allocate(size); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try { return allocate(size); } catch (...) { return nullptr; }
}
void* operator new(std::size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void operator delete(void* pointer) noexcept { std::free(pointer); }
void operator delete[](void* pointer) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::align_val_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::align_val_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, std::size_t, std::align_val_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, std::size_t, std::align_val_t) noexcept { std::free(pointer); }

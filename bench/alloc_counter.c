/* Counting heap allocator for kappa_bench and unit.kernels (never linked into libkappa).
 *
 * It replaces the malloc family for the whole process (an executable's definitions interpose
 * on libc's for every shared library, plugins included) and forwards to glibc's own entry
 * points. Counting malloc rather than only operator new matters: Armadillo allocates matrix
 * memory with posix_memalign/malloc, not operator new. Counting is off until
 * alloc_counter_start(); with a trace budget > 0 the first allocations of the window print a
 * backtrace to stderr (run the output through c++filt) so the allocating call can be named.
 * Allocations that the BLAS library makes itself (called from code in a library whose file name
 * holds "blas", e.g. OpenBLAS's small-matrix sgemm kernels on AVX-512 CPUs, which malloc a buffer
 * per call) are counted apart as well, so a test can tell kappa's allocations from the BLAS's. */
#define _GNU_SOURCE
#include "alloc_counter.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

void* __libc_malloc(size_t size);
void __libc_free(void* pointer);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);
void* __libc_memalign(size_t alignment, size_t size);

static int counting;
static unsigned long malloc_calls;
static unsigned long blas_calls;
static int trace_budget;
static __thread int inside_trace; /* backtrace() may allocate itself */

/* Whether `caller` (the return address of a malloc-family call) lies in a BLAS library. dladdr
 * does not allocate; it takes the loader's recursive lock, so a malloc inside dlopen is safe. */
static int called_from_blas(void* caller) {
  Dl_info info;
  return caller && dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "blas") != NULL;
}

static void counted(void* caller) {
  if (!__atomic_load_n(&counting, __ATOMIC_RELAXED)) return;
  __atomic_fetch_add(&malloc_calls, 1, __ATOMIC_RELAXED);
  if (called_from_blas(caller)) __atomic_fetch_add(&blas_calls, 1, __ATOMIC_RELAXED);
  if (trace_budget > 0 && !inside_trace) {
    inside_trace = 1;
    --trace_budget;
    void* frames[24];
    const int depth = backtrace(frames, 24);
    static const char header[] = "alloc_counter: allocation in the counted window:\n";
    if (write(2, header, sizeof header - 1) < 0) { /* nothing to do about a failed diagnostic */ }
    backtrace_symbols_fd(frames, depth, 2);
    inside_trace = 0;
  }
}

void alloc_counter_start(int backtraces) {
  if (backtraces > 0) { /* load libgcc's unwinder now, outside the counted window */
    void* frame[1];
    backtrace(frame, 1);
  }
  trace_budget = backtraces;
  malloc_calls = 0;
  blas_calls = 0;
  alloc_counter_reset_new();
  __atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
}

void alloc_counter_stop(void) { __atomic_store_n(&counting, 0, __ATOMIC_RELAXED); }
int alloc_counter_active(void) { return __atomic_load_n(&counting, __ATOMIC_RELAXED); }
unsigned long alloc_counter_malloc_calls(void) { return malloc_calls; }
unsigned long alloc_counter_blas_calls(void) { return blas_calls; }

void* malloc(size_t size) {
  counted(__builtin_return_address(0));
  return __libc_malloc(size);
}

void free(void* pointer) { __libc_free(pointer); }

void* calloc(size_t count, size_t size) {
  counted(__builtin_return_address(0));
  return __libc_calloc(count, size);
}

void* realloc(void* pointer, size_t size) {
  counted(__builtin_return_address(0));
  return __libc_realloc(pointer, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  counted(__builtin_return_address(0));
  void* pointer = __libc_memalign(alignment, size);
  if (!pointer && size != 0) return ENOMEM;
  *out = pointer;
  return 0;
}

void* aligned_alloc(size_t alignment, size_t size) {
  counted(__builtin_return_address(0));
  return __libc_memalign(alignment, size);
}

void* memalign(size_t alignment, size_t size) {
  counted(__builtin_return_address(0));
  return __libc_memalign(alignment, size);
}

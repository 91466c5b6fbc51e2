/* Heap allocation counting for the benchmark executable (alloc_counter.c, new_counter.cpp). */
#pragma once
#ifdef __cplusplus
extern "C" {
#endif
/* Starts counting from zero; the first `backtraces` allocations print a backtrace to stderr. */
void alloc_counter_start(int backtraces);
void alloc_counter_stop(void);
int alloc_counter_active(void);
/* malloc-family calls (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) since
 * the start: every heap allocation, operator new's included. */
unsigned long alloc_counter_malloc_calls(void);
/* Those among them that the BLAS library made itself (called from a library named *blas*). */
unsigned long alloc_counter_blas_calls(void);
/* operator new calls (all forms) since the start: the C++ allocations among them. */
unsigned long alloc_counter_new_calls(void);
void alloc_counter_reset_new(void);
#ifdef __cplusplus
}
#endif

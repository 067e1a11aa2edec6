/*
 * conditional_omp.h -- OpenMP when the compiler enables it, serial stubs otherwise.
 *
 * Include this header instead of <omp.h> (Cython: `from conditional_omp cimport ...`).
 * With -fopenmp the compiler defines _OPENMP and the real runtime is used; without it the
 * omp_* functions below behave as in a program running on one thread, so the same source
 * builds and runs serially.
 */
#ifndef SYMRATES_CONDITIONAL_OMP_H
#define SYMRATES_CONDITIONAL_OMP_H

#ifdef _OPENMP
#include <omp.h>
#define SYMRATES_OPENMP_VERSION _OPENMP
#else
#define SYMRATES_OPENMP_VERSION 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_procs(void) { return 1; }
static inline int omp_in_parallel(void) { return 0; }
static inline void omp_set_num_threads(int n) { (void)n; }
#endif

/* The build asked for OpenMP (setup.py defines SYMRATES_OPENMP=1) but the compiler was not
   given the flag that enables it: fail loudly instead of building serial code by accident. */
#if defined(SYMRATES_OPENMP) && SYMRATES_OPENMP && !defined(_OPENMP)
#error "SYMRATES_OPENMP=1 but _OPENMP is not defined: compile with the OpenMP flag (-fopenmp)."
#endif

#endif /* SYMRATES_CONDITIONAL_OMP_H */

# Declarations of ext/conditional_omp.h: the OpenMP runtime calls, serial stubs without OpenMP.
# Generated kernels cimport from here instead of Cython's `openmp` (which needs <omp.h>).

cdef extern from "conditional_omp.h" nogil:
    const int SYMRATES_OPENMP_VERSION  # the _OPENMP macro (yyyymm), 0 in a serial build
    int omp_get_max_threads()
    int omp_get_num_threads()
    int omp_get_thread_num()
    int omp_get_num_procs()
    int omp_in_parallel()
    void omp_set_num_threads(int n)

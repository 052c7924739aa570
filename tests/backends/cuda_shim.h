// The CUDA built-ins cuda_kernels.cu uses, for g++: the same source then runs on the CPU.
//
// Force-included (g++ -include) ahead of the .cu. One block runs at a time: the Python
// launcher sets blockIdx, blockDim and gridDim through lrctl_emu_set_block, then runs
// blockDim.x threads that each set their own threadIdx (thread-local) and call the kernel.
// __shared__ becomes static, which is one block's shared memory because blocks never
// overlap; __syncthreads() is a std::barrier across the block's threads.
//
// lrctl_emu_set_thread can also put the calling thread's SSE unit in flush-to-zero and
// denormals-are-zero mode (MXCSR FTZ | DAZ), which is what CuPy's forced -ftz=true does to
// the float32 operations of the real build.
#pragma once

#include <atomic>
#include <barrier>
#include <math.h>
#include <xmmintrin.h>

#define __global__
#define __device__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static

struct lrctl_emu_dim3 {
    unsigned int x = 0, y = 0, z = 0;
};

static lrctl_emu_dim3 blockIdx, blockDim, gridDim;
static thread_local lrctl_emu_dim3 threadIdx;
static std::barrier<>* lrctl_emu_barrier = nullptr;

static inline void __syncthreads() { lrctl_emu_barrier->arrive_and_wait(); }

static inline double atomicAdd(double* address, double value) {
    return std::atomic_ref<double>(*address).fetch_add(value);
}

constexpr unsigned int lrctl_emu_ftz_daz = 0x8040;  // MXCSR bits 15 (FTZ) and 6 (DAZ)

extern "C" __attribute__((visibility("default"))) void lrctl_emu_set_block(unsigned int block, unsigned int threads,
                                                                        unsigned int blocks) {
    if (blockDim.x != threads) {
        delete lrctl_emu_barrier;
        lrctl_emu_barrier = new std::barrier<>(threads);
    }
    blockIdx.x = block;
    blockDim.x = threads;
    gridDim.x = blocks;
    blockIdx.y = blockIdx.z = 0;
    blockDim.y = blockDim.z = gridDim.y = gridDim.z = 1;
}

extern "C" __attribute__((visibility("default"))) void lrctl_emu_set_thread(unsigned int thread, int ftz) {
    threadIdx.x = thread;
    threadIdx.y = threadIdx.z = 0;
    const unsigned int csr = _mm_getcsr() & ~lrctl_emu_ftz_daz;
    _mm_setcsr(ftz ? csr | lrctl_emu_ftz_daz : csr);
}

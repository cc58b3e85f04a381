#include <cuda_fp16.h>
#include <cuda_bf16.h>

extern "C" __global__ void __launch_bounds__(256) half_math_kernel(const half* __restrict__ A,
                                                                   half* __restrict__ B,
                                                                   nv_bfloat16* __restrict__ C,
                                                                   float* __restrict__ D) {
  int tx = threadIdx.x;
  B[tx] = hexp(A[tx]) + __float2half(1.5f) * __float2half(tanhf(__half2float(A[tx])));
  C[tx] = __float2bfloat16(sqrtf(__half2float(A[tx])));
  D[tx] = __bfloat162float(C[tx]) + __half2float(__hmax(A[tx], B[tx]));
}

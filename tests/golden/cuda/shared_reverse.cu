extern "C" __global__ void __launch_bounds__(64) shared_reverse_kernel(const float* __restrict__ A,
                                                                       float* __restrict__ B) {
  int bx = blockIdx.x;
  int tx = threadIdx.x;
  __shared__ __align__(16) float S[64];
  S[tx] = A[bx * 64 + tx];
  __syncthreads();
  B[bx * 64 + tx] = S[63 - tx];
}

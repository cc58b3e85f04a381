extern "C" __global__ void __launch_bounds__(128) vector_add_kernel(const float* __restrict__ A,
                                                                    const float* __restrict__ B,
                                                                    float* __restrict__ C) {
  int bx = blockIdx.x;
  int tx = threadIdx.x;
  C[bx * 128 + tx] = A[bx * 128 + tx] + B[bx * 128 + tx];
}

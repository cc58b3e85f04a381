extern "C" __global__ void __launch_bounds__(32) warp_reduce_kernel(const float* __restrict__ A,
                                                                    float* __restrict__ B) {
  int bx = blockIdx.x;
  int tx = threadIdx.x;
  __align__(16) float red[1];
  int mask = __activemask();
  red[0] = A[bx * 32 + tx];
  #pragma unroll
  for (int i = 0; i < 5; ++i) {
    red[0] = red[0] + __shfl_down_sync(mask, red[0], 16 >> i, 32);
  }
  red[0] = __shfl_sync(mask, red[0], 0, 32);
  __syncwarp();
  if (tx == 0) {
    B[bx] = red[0];
  }
}

extern "C" __global__ void __launch_bounds__(256) matmul_tiled_kernel(const float* __restrict__ A,
                                                                      const float* __restrict__ B,
                                                                      float* __restrict__ C) {
  int by = blockIdx.y;
  int bx = blockIdx.x;
  int ty = threadIdx.y;
  int tx = threadIdx.x;
  __shared__ __align__(16) float As[256];
  __shared__ __align__(16) float Bs[256];
  __align__(16) float acc[1];
  acc[0] = 0.0f;
  for (int ko = 0; ko < 4; ++ko) {
    As[ty * 16 + tx] = A[(by * 16 + ty) * 64 + ko * 16 + tx];
    Bs[ty * 16 + tx] = B[(ko * 16 + ty) * 64 + bx * 16 + tx];
    __syncthreads();
    #pragma unroll
    for (int ki = 0; ki < 16; ++ki) {
      acc[0] = acc[0] + As[ty * 16 + ki] * Bs[ki * 16 + tx];
    }
    __syncthreads();
  }
  C[(by * 16 + ty) * 64 + bx * 16 + tx] = acc[0];
}

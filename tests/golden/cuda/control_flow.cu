template <typename T>
__device__ __forceinline__ T floormod(T a, T b) {
  T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

extern "C" __global__ void __launch_bounds__(64) control_flow_kernel(int* __restrict__ A, int n) {
  int tx = threadIdx.x;
  if (!(n > 0)) __trap();  /* n must be positive */
  __align__(16) int X[1];
  X[0] = A[tx];
  while (X[0] > n) {
    X[0] = X[0] - n;
  }
  int y = X[0] * 2;
  for (int j = 2; j < 6; ++j) {
    if (floormod<int>(y, j) == 0) {
      A[tx] = y * j;
    } else {
      A[tx] = y;
    }
  }
}

template <typename T>
__device__ __forceinline__ T floordiv(T a, T b) {
  T q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

template <typename T>
__device__ __forceinline__ T floormod(T a, T b) {
  T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

extern "C" __global__ void __launch_bounds__(128) integer_ops_kernel(int* __restrict__ A,
                                                                     long long* __restrict__ B,
                                                                     signed char* __restrict__ C,
                                                                     bool* __restrict__ D,
                                                                     int k) {
  int tx = threadIdx.x;
  A[tx] = floordiv<int>(A[tx] - 64, k) + floormod<int>(A[tx], 7) + tx / 4 * (tx % 4);
  B[tx] = ((long long)A[tx] << 3LL) + (B[tx] & 255LL);
  C[tx] = (signed char)(C[tx] + 3);
  D[tx] = (A[tx] < k ? min(A[tx], k) != 0 : __popc((unsigned int)A[tx]) > 3) && !D[tx];
}

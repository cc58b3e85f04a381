extern "C" __global__ void __launch_bounds__(128) dynamic_shared_kernel(const float* __restrict__ Ab,
                                                                        float* __restrict__ Bb,
                                                                        int n) {
  extern __shared__ __align__(16) unsigned char dyn_shared[];
  int bx = blockIdx.x;
  int tx = threadIdx.x;
  float* S = (float*)dyn_shared;
  int* H = (int*)(dyn_shared + 512);
  S[tx] = Ab[bx * 128 + tx];
  if (tx == 0) {
    H[bx] = bx;
  }
  __syncthreads();
  Bb[bx * 128 + tx] = S[127 - tx] + (float)H[bx];
}

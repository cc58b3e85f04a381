extern "C" __global__ void __launch_bounds__(256) guarded_scale_kernel(const float* __restrict__ Ab,
                                                                       float* __restrict__ Bb,
                                                                       int n,
                                                                       float alpha) {
  int bx = blockIdx.x;
  int tx = threadIdx.x;
  if (bx * 256 + tx < n) {
    Bb[bx * 256 + tx] = Ab[bx * 256 + tx] * alpha;
  }
}

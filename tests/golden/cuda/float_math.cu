extern "C" __global__ void __launch_bounds__(128) float_math_kernel(float* __restrict__ A,
                                                                    double* __restrict__ B) {
  int tx = threadIdx.x;
  A[tx] = isnan(A[tx]) ? 0.0f : 1.0f / (1.0f + expf(-A[tx])) + floorf(A[tx] / 3.0f) + rintf(A[tx]);
  B[tx] = pow(B[tx], 2.0) + fabs(B[tx]) + (double)expf(A[tx]) + 1e-05;
}

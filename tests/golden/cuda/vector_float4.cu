extern "C" __global__ void __launch_bounds__(128) vector_float4_kernel(const float* __restrict__ A,
                                                                       float* __restrict__ B) {
  int bx = blockIdx.x;
  int tx = threadIdx.x;
  __align__(16) float L[4];
  *(float4*)L = *(float4*)(A + bx * 512 + tx * 4);
  float4 v = *(float4*)L;
  *(float4*)(B + bx * 512 + tx * 4) = make_float4(v.x * 2.0f + 1.0f, v.y * 2.0f + 1.0f, v.z * 2.0f + 1.0f, v.w * 2.0f + 1.0f);
}

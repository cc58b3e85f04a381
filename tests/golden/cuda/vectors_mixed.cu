#include <cuda_fp16.h>

extern "C" __global__ void __launch_bounds__(64) vectors_mixed_kernel(float* __restrict__ A,
                                                                      half* __restrict__ H,
                                                                      signed char* __restrict__ C,
                                                                      float* __restrict__ D,
                                                                      int* __restrict__ I) {
  int tx = threadIdx.x;
  half2 v = *(half2*)(H + tx * 2);
  half2 v_1 = *(half2*)(H + tx * 2 + 128);
  *(half2*)(H + tx * 2) = make_half2(v.x * v_1.x, v.y * v_1.y);
  int v_2 = tx * 8 + 1;
  float4 v_3 = make_float4(A[v_2], A[v_2 + 2], A[v_2 + 4], A[v_2 + 6]);
  int v_4 = tx * 8;
  D[v_4] = v_3.x;
  D[v_4 + 2] = v_3.y;
  D[v_4 + 4] = v_3.z;
  D[v_4 + 6] = v_3.w;
  half2 v_5 = *(half2*)(H + tx * 2);
  *(float2*)(D + tx * 4 + 256) = make_float2(__half2float(v_5.x), __half2float(v_5.y));
  int4 v_6 = *(int4*)(I + tx * 4);
  *(int4*)(I + tx * 4) = make_int4(v_6.x < 0 ? 0 : v_6.x, v_6.y < 0 ? 0 : v_6.y, v_6.z < 0 ? 0 : v_6.z, v_6.w < 0 ? 0 : v_6.w);
  char4 v_7 = *(char4*)(C + tx * 4);
  *(char4*)(C + tx * 4) = make_char4((signed char)(v_7.x + 1), (signed char)(v_7.y + 1), (signed char)(v_7.z + 1), (signed char)(v_7.w + 1));
  I[tx + 256] = __float_as_int(A[tx]) + __popc(I[tx]);
  auto p = A + (tx + 64);
  atomicAdd(p, 1.0f);
}

/* tvmscript_entry.h: what the code export generates for one model (tables of its graph functions
 * and the CPU check) and what the generic runtime (tvmscript_runtime.c) gives that code. Internal:
 * an application includes tvmscript_model.h only. Everything declared here has hidden
 * visibility (the library is compiled with -fvisibility=hidden). */
#ifndef TVMSCRIPT_ENTRY_H_
#define TVMSCRIPT_ENTRY_H_

#include "tvmscript_model.h"

/* Runs one graph function: workspace, inputs and outputs as tvmscript_model_run takes them;
   0 or the result of tvms_kernel_failed. */
typedef int (*tvms_run_fn)(unsigned char* workspace, const void* const* in, void* const* out);

typedef struct tvms_function {
  const char* name;
  const char* unsupported; /* NULL, or why the C entry cannot run this function */
  int num_inputs;
  int num_outputs;
  const tvmscript_tensor_info* inputs;
  const tvmscript_tensor_info* outputs;
  const int* input_align;  /* each input's element size: the alignment its address needs */
  const int* output_align;
  size_t workspace_bytes;  /* a multiple of 64 */
  tvms_run_fn run;
} tvms_function;

/* generated: the model */
extern const tvms_function tvms_functions[];
extern const int tvms_num_functions;
extern const int tvms_needs_amx; /* the kernels use AMX tiles: ask Linux for them first */

/* generated: NULL when this CPU has every feature the kernels' target needs, else why not */
const char* tvms_cpu_problem(void);

/* runtime: records "<func>: <kernel>: assertion failed: <message>" and returns nonzero */
int tvms_kernel_failed(const char* func, const char* kernel, int code,
                       const char* const* messages, int num_messages);

#endif /* TVMSCRIPT_ENTRY_H_ */

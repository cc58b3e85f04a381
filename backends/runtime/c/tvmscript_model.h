/* tvmscript_model.h: run a model exported by tvmscript from C, without Python.
 *
 * A model's library (`ex.export_library("model.so")` or `tvmscript compile ... -o model.so`)
 * holds its compiled kernels, its weights (read in place from the library's read-only data, never
 * copied) and, for each graph-level function of static shape, the code that runs it: the kernel
 * calls in order, with the intermediate tensors in one workspace laid out by the static memory
 * plan. This header is the same for every model; link the library (`cc app.c model.so`) or
 * dlopen() it, and call:
 *
 *     const char* why = tvmscript_check_cpu();          // NULL: this CPU runs the library
 *     tvmscript_model* m = tvmscript_model_create("main");
 *     if (!m) { fprintf(stderr, "%s\n", tvmscript_last_error()); return 1; }
 *     const tvmscript_tensor_info* x = tvmscript_model_input(m, 0);   // name, dtype, shape
 *     const void* inputs[] = {x_data};  void* outputs[] = {y_data};
 *     if (tvmscript_model_run(m, inputs, outputs) != 0) { ... tvmscript_last_error() ... }
 *     tvmscript_model_destroy(m);
 *
 * Tensors are dense, row-major (C order), of the dtype and shape their info gives; each buffer
 * must be aligned to its element size and hold info->nbytes bytes. bfloat16 and float16 elements
 * are their 16-bit patterns, bool elements are one byte (0 or 1). Output buffers must not overlap
 * each other or the inputs; inputs are only read.
 *
 * Threads: a model object owns its workspace, so one object must not run on two threads at once;
 * create one object per thread (they share the weights). tvmscript_last_error() is per thread.
 *
 * CPU: the kernels are compiled for the target of the build (e.g. -mcpu=native). On a CPU that
 * lacks a feature they use, tvmscript_check_cpu() says which, and tvmscript_model_create() fails
 * with that message instead of the process dying of an illegal instruction. A model using Intel
 * AMX also asks Linux for the AMX tile state in tvmscript_model_create().
 *
 * What runs: graph functions whose tensors all have static shapes and whose bindings call kernels
 * (R.call_tir), tuples and constants. For any other function (symbolic shapes, calls of other
 * graph functions) the library still loads in Python (tvmscript.load_module), and
 * tvmscript_model_create() fails with the reason.
 *
 * Several model libraries in one process: dlopen() each (RTLD_LOCAL, the default): linked
 * directly, their tvmscript_* symbols would clash.
 */
#ifndef TVMSCRIPT_MODEL_H_
#define TVMSCRIPT_MODEL_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TVMSCRIPT_API __attribute__((visibility("default")))
#else
#define TVMSCRIPT_API
#endif

/* The version of this interface; a library answers tvmscript_abi_version() with its own. */
#define TVMSCRIPT_ABI_VERSION 1

/* One input or output tensor of a function. */
typedef struct tvmscript_tensor_info {
  const char* name;      /* an input: its parameter's name ("x"; "x[1]" inside a tuple
                            parameter); an output: the name of the returned variable (an
                            imported model's output name; "y[0]" inside a returned tuple
                            variable), else "output", "output[1]", ... by position */
  const char* dtype;     /* "float32", "int64", "bool", "float16", "bfloat16", ... */
  int ndim;
  const int64_t* shape;  /* ndim sizes */
  size_t nbytes;         /* the size of the buffer: product(shape) * element size */
} tvmscript_tensor_info;

/* A graph function ready to run, with its own workspace. */
typedef struct tvmscript_model tvmscript_model;

/* TVMSCRIPT_ABI_VERSION of the library. */
TVMSCRIPT_API int tvmscript_abi_version(void);

/* NULL when this CPU can run the library's kernels, else a message naming the features it lacks
   (a static string). */
TVMSCRIPT_API const char* tvmscript_check_cpu(void);

/* The message of the last failed call on this thread ("" when none). */
TVMSCRIPT_API const char* tvmscript_last_error(void);

/* The graph functions of the library ("main", ...), including those the C entry cannot run. */
TVMSCRIPT_API int tvmscript_num_functions(void);
TVMSCRIPT_API const char* tvmscript_function_name(int index); /* NULL when out of range */

/* A model object for graph function `func` ("main"; NULL also means "main"). NULL on failure
   (unknown function, a function the C entry cannot run, a CPU that cannot run the library, no
   memory): tvmscript_last_error() says why. */
TVMSCRIPT_API tvmscript_model* tvmscript_model_create(const char* func);

TVMSCRIPT_API int tvmscript_model_num_inputs(const tvmscript_model* model);
TVMSCRIPT_API int tvmscript_model_num_outputs(const tvmscript_model* model);
/* The info of input/output `index` (NULL when out of range); valid while the library is loaded. */
TVMSCRIPT_API const tvmscript_tensor_info* tvmscript_model_input(const tvmscript_model* model,
                                                                 int index);
TVMSCRIPT_API const tvmscript_tensor_info* tvmscript_model_output(const tvmscript_model* model,
                                                                  int index);
/* Bytes of intermediate tensors the model object holds (its workspace). */
TVMSCRIPT_API size_t tvmscript_model_workspace_bytes(const tvmscript_model* model);

/* Run the function: inputs[i] points at input i, outputs[j] at the buffer output j is written to.
   0 on success; else nonzero, with the message (a NULL or misaligned buffer, a failed assertion
   in a kernel) in tvmscript_last_error(). */
TVMSCRIPT_API int tvmscript_model_run(tvmscript_model* model, const void* const* inputs,
                                      void* const* outputs);

/* Free the model object and its workspace (NULL is allowed). */
TVMSCRIPT_API void tvmscript_model_destroy(tvmscript_model* model);

#ifdef __cplusplus
}
#endif

#endif /* TVMSCRIPT_MODEL_H_ */

/* run_model: run a model library exported by tvmscript, from C, without Python.
 *
 *   run_model MODEL.so [--function NAME] [--input FILE]... [--output FILE] [--runs N] [--info]
 *
 * Loads MODEL.so with dlopen (so one binary runs any model), creates the model object for the
 * graph function NAME ("main"), reads input i from the i-th --input file (raw bytes in C order,
 * exactly the tensor's size; numpy: a.tofile(path)) or, without --input, fills the inputs with
 * fixed pseudo-random values, runs once and writes every output, one after the other, to the
 * --output file (raw bytes), then times N more runs (--runs, 10 by default; 0 for none) and
 * prints their latency. --info prints the library's functions and the tensors of NAME.
 * Exit status: 0 on success, 1 on bad usage or input, 2 when the library refuses (another CPU,
 * a function it cannot run), 3 when a run fails.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tvmscript_model.h"

/* the library's API, looked up with dlsym */
static struct {
  int (*abi_version)(void);
  const char* (*check_cpu)(void);
  const char* (*last_error)(void);
  int (*num_functions)(void);
  const char* (*function_name)(int);
  tvmscript_model* (*create)(const char*);
  int (*num_inputs)(const tvmscript_model*);
  int (*num_outputs)(const tvmscript_model*);
  const tvmscript_tensor_info* (*input)(const tvmscript_model*, int);
  const tvmscript_tensor_info* (*output)(const tvmscript_model*, int);
  size_t (*workspace_bytes)(const tvmscript_model*);
  int (*run)(tvmscript_model*, const void* const*, void* const*);
  void (*destroy)(tvmscript_model*);
} api;

static int bind(void* lib, void** slot, const char* name) {
  *slot = dlsym(lib, name);
  if (!*slot) fprintf(stderr, "error: the library has no %s (not a tvmscript model?)\n", name);
  return *slot != NULL;
}

static int load_api(const char* path) {
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "error: cannot load %s: %s\n", path, dlerror());
    return 0;
  }
  /* object pointers to function pointers: POSIX guarantees this works for dlsym */
  return bind(lib, (void**)&api.abi_version, "tvmscript_abi_version") &&
         bind(lib, (void**)&api.check_cpu, "tvmscript_check_cpu") &&
         bind(lib, (void**)&api.last_error, "tvmscript_last_error") &&
         bind(lib, (void**)&api.num_functions, "tvmscript_num_functions") &&
         bind(lib, (void**)&api.function_name, "tvmscript_function_name") &&
         bind(lib, (void**)&api.create, "tvmscript_model_create") &&
         bind(lib, (void**)&api.num_inputs, "tvmscript_model_num_inputs") &&
         bind(lib, (void**)&api.num_outputs, "tvmscript_model_num_outputs") &&
         bind(lib, (void**)&api.input, "tvmscript_model_input") &&
         bind(lib, (void**)&api.output, "tvmscript_model_output") &&
         bind(lib, (void**)&api.workspace_bytes, "tvmscript_model_workspace_bytes") &&
         bind(lib, (void**)&api.run, "tvmscript_model_run") &&
         bind(lib, (void**)&api.destroy, "tvmscript_model_destroy");
}

static void print_info(const char* kind, int index, const tvmscript_tensor_info* t) {
  printf("  %s %d: %s %s (", kind, index, t->name, t->dtype);
  for (int d = 0; d < t->ndim; ++d) printf(d ? ", %lld" : "%lld", (long long)t->shape[d]);
  printf(t->ndim == 1 ? ",) %zu bytes\n" : ") %zu bytes\n", t->nbytes);
}

static void* aligned_buffer(size_t nbytes) {
  void* p = NULL;
  return posix_memalign(&p, 64, nbytes ? nbytes : 1) == 0 ? p : NULL;
}

static int read_input(const char* path, void* dst, const tvmscript_tensor_info* t) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 0;
  }
  size_t got = fread(dst, 1, t->nbytes, f);
  int extra = fgetc(f) != EOF;
  fclose(f);
  if (got != t->nbytes || extra) {
    fprintf(stderr, "error: %s must hold exactly %zu bytes for input '%s' (%s), %s\n", path,
            t->nbytes, t->name, t->dtype, extra ? "it has more" : "it has fewer");
    return 0;
  }
  return 1;
}

/* Fixed pseudo-random values: floats in [-1, 1), integers in [0, 10), bools 0/1; other dtypes
   (float16, bfloat16, ...) zeros. */
static void fill_input(void* dst, const tvmscript_tensor_info* t, uint32_t seed) {
  size_t count = 1;
  for (int d = 0; d < t->ndim; ++d) count *= (size_t)t->shape[d];
  memset(dst, 0, t->nbytes);
  uint32_t state = seed * 2654435761u + 1u;
  for (size_t i = 0; i < count; ++i) {
    state = state * 1664525u + 1013904223u;
    float u = (float)(state >> 8) / 16777216.0f;
    if (!strcmp(t->dtype, "float32")) ((float*)dst)[i] = 2.0f * u - 1.0f;
    else if (!strcmp(t->dtype, "float64")) ((double*)dst)[i] = 2.0 * u - 1.0;
    else if (!strcmp(t->dtype, "int64")) ((int64_t*)dst)[i] = (int64_t)(u * 10);
    else if (!strcmp(t->dtype, "int32")) ((int32_t*)dst)[i] = (int32_t)(u * 10);
    else if (!strcmp(t->dtype, "bool")) ((uint8_t*)dst)[i] = u < 0.5f;
    else return;
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static int usage(const char* self) {
  fprintf(stderr, "usage: %s MODEL.so [--function NAME] [--input FILE]... [--output FILE] "
                  "[--runs N] [--info]\n", self);
  return 1;
}

int main(int argc, char** argv) {
  const char *library = NULL, *function = "main", *output_path = NULL;
  const char* input_paths[256];
  int num_input_paths = 0, runs = 10, info = 0;
  for (int i = 1; i < argc; ++i) {
    int more = i + 1 < argc;
    if (!strcmp(argv[i], "--function") && more) function = argv[++i];
    else if (!strcmp(argv[i], "--input") && more && num_input_paths < 256)
      input_paths[num_input_paths++] = argv[++i];
    else if (!strcmp(argv[i], "--output") && more) output_path = argv[++i];
    else if (!strcmp(argv[i], "--runs") && more) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--info")) info = 1;
    else if (argv[i][0] != '-' && !library) library = argv[i];
    else return usage(argv[0]);
  }
  if (!library || runs < 0) return usage(argv[0]);
  if (!load_api(library)) return 1;
  if (api.abi_version() != TVMSCRIPT_ABI_VERSION) {
    fprintf(stderr, "error: %s has C API version %d; this program was built for %d\n", library,
            api.abi_version(), TVMSCRIPT_ABI_VERSION);
    return 1;
  }
  if (info) {
    printf("%s: %d graph function(s):", library, api.num_functions());
    for (int i = 0; i < api.num_functions(); ++i) printf(" %s", api.function_name(i));
    const char* cpu = api.check_cpu();
    printf("\ncpu: %s\n", cpu ? cpu : "ok");
  }
  tvmscript_model* model = api.create(function);
  if (!model) {
    fprintf(stderr, "error: %s\n", api.last_error());
    return 2;
  }
  int n_in = api.num_inputs(model), n_out = api.num_outputs(model);
  if (num_input_paths && num_input_paths != n_in) {
    fprintf(stderr, "error: '%s' takes %d inputs, %d --input files given\n", function, n_in,
            num_input_paths);
    return 1;
  }
  const void** inputs = calloc((size_t)n_in + 1, sizeof *inputs);
  void** outputs = calloc((size_t)n_out + 1, sizeof *outputs);
  for (int i = 0; i < n_in; ++i) {
    const tvmscript_tensor_info* t = api.input(model, i);
    void* buffer = aligned_buffer(t->nbytes);
    if (!buffer) return 1;
    if (num_input_paths) {
      if (!read_input(input_paths[i], buffer, t)) return 1;
    } else {
      fill_input(buffer, t, (uint32_t)i + 1u);
    }
    inputs[i] = buffer;
    if (info) print_info("input", i, t);
  }
  for (int j = 0; j < n_out; ++j) {
    if (!(outputs[j] = aligned_buffer(api.output(model, j)->nbytes))) return 1;
    if (info) print_info("output", j, api.output(model, j));
  }
  if (info) printf("  workspace: %zu bytes\n", api.workspace_bytes(model));

  if (api.run(model, inputs, outputs) != 0) {
    fprintf(stderr, "error: %s\n", api.last_error());
    return 3;
  }
  if (output_path) {
    FILE* f = fopen(output_path, "wb");
    if (!f) {
      perror(output_path);
      return 1;
    }
    for (int j = 0; j < n_out; ++j) fwrite(outputs[j], 1, api.output(model, j)->nbytes, f);
    if (fclose(f) != 0) {
      perror(output_path);
      return 1;
    }
  }
  if (runs > 0) {
    double* times = malloc((size_t)runs * sizeof *times);
    for (int r = 0; r < runs; ++r) {
      double start = now_ms();
      if (api.run(model, inputs, outputs) != 0) {
        fprintf(stderr, "error: %s\n", api.last_error());
        return 3;
      }
      times[r] = now_ms() - start;
    }
    double total = 0;
    for (int r = 0; r < runs; ++r) total += times[r];
    qsort(times, (size_t)runs, sizeof *times, compare);
    printf("%s: %d runs: mean %.4f ms, median %.4f ms, min %.4f ms\n", function, runs,
           total / runs, times[runs / 2], times[0]);
    free(times);
  }
  for (int i = 0; i < n_in; ++i) free((void*)inputs[i]);
  for (int j = 0; j < n_out; ++j) free(outputs[j]);
  free(inputs);
  free(outputs);
  api.destroy(model);
  return 0;
}
